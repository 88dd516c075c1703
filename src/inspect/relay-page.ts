/**
 * The page the inspector relay serves: `@statelyai/inspect`'s bridge page (dist/server.mjs,
 * `getBridgeHTML`), reproduced. It embeds the Stately inspector UI in an iframe, reads the
 * relay's WebSocket and posts each message, parsed, to the iframe once the UI says
 * `@statelyai.connected`; messages that come before are buffered and posted then.
 */

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/**
 * The relay page for the inspector UI at `inspectorUrl`. One change from the original: the
 * WebSocket address is the page's own (`location.host`), not `localhost:PORT`, so the page
 * works on whatever address the relay was bound to and opened at. The URL is escaped; the
 * original pastes it into the attribute as is.
 */
export function relayPageHtml(inspectorUrl: string): string {
  const src = inspectorUrl.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
  return `<!DOCTYPE html>
<html>
<head>
  <title>Stately Inspector</title>
  <style>
    * { margin: 0; padding: 0; }
    html, body { height: 100%; }
    iframe { width: 100%; height: 100%; border: none; }
  </style>
</head>
<body>
  <iframe id="inspector" src="${src}"></iframe>
  <script>
    const iframe = document.getElementById('inspector');
    const buffer = [];
    let connected = false;

    window.addEventListener('message', (e) => {
      if (e.data && e.data.type === '@statelyai.connected') {
        connected = true;
        buffer.forEach((event) => {
          iframe.contentWindow.postMessage(event, '*');
        });
        buffer.length = 0;
      }
    });

    const ws = new WebSocket('ws://' + location.host);
    ws.onmessage = (event) => {
      const data = JSON.parse(event.data);
      if (connected) {
        iframe.contentWindow.postMessage(data, '*');
      } else {
        buffer.push(data);
      }
    };
  </script>
</body>
</html>`;
}
