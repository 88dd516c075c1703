/** The Stately inspector for a Supervisor's inspected connections. */
export { startInspectorServer, type InspectorServer, type InspectorServerOptions } from './inspector-server.js';
