/**
 * What the project's own tests and tools (bench/, the diagram writer) reach into:
 * not exported by the package, no stability promised. Users import from `index.ts`.
 * @packageDocumentation
 */
export type { ConnectionEnvironment } from './binding/connection.js';
export { boundListenerCount, kPaused } from './binding/socket-handlers.js';
export { headerReaderListenerCount } from './protocol/proxy-header-reader.js';
export { TransitionRuntime, createTransitionRuntime } from './runtime/transition-runtime.js';
export { TransitionTable, tableFor, type TableNode, type TableEdge, type CompiledAction } from './runtime/transition-table.js';
export { DIAGRAM_START, DIAGRAM_END, diagramBlock, hasDiagramBlock, readDiagramBlock, replaceDiagramBlock } from './diagram/markdown.js';
