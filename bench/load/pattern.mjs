// The byte pattern every benchmark stream carries, and the upstream's mode bytes.
//
// Byte k of a stream is k % 251. A chunk received at stream offset `o` is checked at its
// first, middle and last byte, so lost, duplicated or reordered bytes show up without
// hashing gigabytes. Pattern bytes are 0..250, so a first byte of 251..255 can select a mode
// of the upstream server instead (see upstream.mjs); a stream that starts with 0 is an echo.

export const PERIOD = 251;

/** 261 periods (65 511 bytes): writing it again and again keeps the pattern continuous. */
export const PATTERN = Buffer.alloc(PERIOD * 261);
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = i % PERIOD;

/** Mode bytes (first byte of a connection), each followed by a 4-byte big-endian count. */
export const MODE = {
  /** Read until the client's FIN, then send `count` pattern bytes and end: a stream after FIN. */
  STREAM_AFTER_FIN: 0xfc,
  /** Send `count` pattern bytes and end at once (server FIN first), then read until the client's FIN. */
  SERVER_CLOSES: 0xfd,
  /** Reset the connection (RST) as soon as the header is read. */
  SERVER_RESETS: 0xfe,
};
export const HEADER_LENGTH = 5;

export function header(mode, count = 0) {
  const b = Buffer.alloc(HEADER_LENGTH);
  b[0] = mode;
  b.writeUInt32BE(count, 1);
  return b;
}

/** Whether `chunk`, received at stream offset `offset`, carries the pattern (sampled). */
export function chunkMatches(chunk, offset) {
  const n = chunk.length;
  if (n === 0) return true;
  return (
    chunk[0] === offset % PERIOD &&
    chunk[n - 1] === (offset + n - 1) % PERIOD &&
    chunk[n >> 1] === (offset + (n >> 1)) % PERIOD
  );
}

/**
 * Writes `count` pattern bytes to `socket` with backpressure, then calls `done` (which
 * usually ends the socket). Stops quietly if the socket is destroyed.
 */
export function writePattern(socket, count, done) {
  let left = count;
  const pump = () => {
    while (left > 0) {
      if (socket.destroyed) return;
      const n = Math.min(left, PATTERN.length);
      left -= n;
      const ok = socket.write(n === PATTERN.length ? PATTERN : PATTERN.subarray(0, n));
      if (!ok && left > 0) {
        socket.once('drain', pump);
        return;
      }
    }
    if (!socket.destroyed) done();
  };
  pump();
}
