/** The help texts; `--help` prints them on stdout, a missing command on stderr. */

export const MAIN_USAGE = `proxy-lifecycle: TCP proxy connections with a correct lifecycle (half-close, timeouts, grace periods, close reasons)

Usage:
  proxy-lifecycle forward --listen [HOST:]PORT --target HOST:PORT [flags]
  proxy-lifecycle replay FILE|- [--connection ID] [--html OUT.html]
  proxy-lifecycle diagram [--format mermaid|dot]
  proxy-lifecycle demo [--log FILE]
  proxy-lifecycle --version

Commands:
  forward   run a TCP proxy, with one access-log line per closed connection
  replay    print each connection's timeline from an event log (forward --log FILE)
  diagram   print the connection machine's statechart, generated from its definition
  demo      run the scenarios a naive proxy gets wrong, on loopback, in a few seconds

Run 'proxy-lifecycle COMMAND --help' for a command's flags.
`;

export const FORWARD_USAGE = `Usage: proxy-lifecycle forward --listen [HOST:]PORT --target HOST:PORT [flags]

Proxies every connection accepted on --listen to --target. Prints 'listening on HOST:PORT'
on stdout once it accepts connections, then one access-log line per closed connection (and
per refused client: conn=- term=XA limit=...) on stderr (or --access-log FILE).

Signals: SIGTERM or SIGINT stops accepting, lets connections in flight finish, destroys what
is left at --shutdown-timeout, exits 0 (a second signal destroys them at once). SIGHUP or
SIGUSR1 reopens the --log and --access-log files at their paths (log rotation), touching no
connection. SIGUSR2 prints one status line (connections open and served, log lines dropped).

  --listen [HOST:]PORT        address to listen on; without HOST, every interface; port 0 picks one
  --target HOST:PORT          upstream to connect each connection to
  --grace-period DURATION     how long a draining side may take to flush and close (5s)
  --socket-timeout DURATION   socket idle timeout, 0 = off (0)
  --timeout-behavior B        reset | close | ignore: what a socket timeout does (reset)
  --parity-timeout DURATION   one side half-closed this long while the other stays open... (30m)
  --parity-inactivity DURATION
                              ...and inactive this long closes both (10m)
  --connect-timeout DURATION  upstream connect timeout (30s)
  --idle-timeout DURATION     both directions silent this long closes the connection, 0 = off (0)
  --max-lifetime DURATION     hard cap on a connection's age, 0 = off (0)
  --first-byte-timeout DURATION
                              close a client that sent nothing this long after it connected (slowloris),
                              0 = off (0); leave it off for server-first protocols (MySQL, SMTP, FTP, SSH)
  --no-half-open              end both sides on the first FIN instead of keeping the other direction open
  --keep-alive [DURATION]     TCP keep-alive on both sockets, first probe after DURATION of silence (1m);
                              off without it, as in HAProxy and nginx
  --shutdown-timeout DURATION
                              on SIGTERM/SIGINT, destroy connections still open after this long (30s)
  --max-connections N         serve at most N connections at once, refusing more as they arrive (default: what
                              the file-descriptor limit, ulimit -n, leaves room for at 2 per connection;
                              both apply, the smaller wins); per worker with --workers
  --max-connections-per-ip N  serve at most N connections at once from one client address (no limit);
                              per worker with --workers
  --accept-proxy [DURATION]   every client starts with a PROXY protocol header (v1 or v2, as HAProxy's
                              send-proxy sends): its source is the client's address in the logs and
                              limits; no valid header within DURATION (10s) closes the client
  --send-proxy v1|v2          send a PROXY protocol header (v1 text, v2 binary) to the target before
                              the first byte: the client's address and the one it connected to
  --metrics [HOST:]PORT       serve Prometheus metrics at http://HOST:PORT/metrics (host default 127.0.0.1)
  --inspect [[HOST:]PORT]     run the selected connections as XState actors and show them live in the
                              Stately inspector: prints 'inspector on URL' (host default 127.0.0.1, a
                              free port without PORT). The relay shows every inspected connection's
                              data to whoever reaches it: bind it to loopback or a trusted network.
                              Needs @statelyai/inspect and ws
  --inspect-every N           with --inspect, inspect connections 1, 1+N, 1+2N, ... (1: all of them)
  --instance NAME             names this proxy in every connection id, NAME-BOOT-N (BOOT: this start's
                              time, base 36): 1 to 32 of A-Z a-z 0-9 _ - (default: the host name)
  --log FILE                  append the event log to FILE as JSON lines (read it with 'replay')
  --log nats://HOST:PORT/STREAM
                              publish the event log to a NATS JetStream stream instead (the fleet's
                              log: subjects STREAM.INSTANCE.CONN; ?instance=NAME, default the host
                              name; the stream is created when missing). NATS down: the proxy runs
                              on, records wait in memory (bounded: ?spool=N records, default 100000),
                              then are dropped and counted. A connection's records that wait together
                              share a message (?message-bytes=N, default 16384; 0: one record each)
  --access-log FILE           append the access log to FILE instead of stderr (- is stderr); written in
                              batches, at most 100 ms late
  --workers N|auto            run N worker processes on the one listening socket (node:cluster; auto: one
                              per core), sharing the logs, /metrics and signals; a crashed worker is
                              restarted. Limits and the ulimit -n budget are per worker. (1: no cluster)
  --json                      access-log lines (and notices) as JSON
  --quiet                     no access log, no start and stop notices (warnings still print)

A DURATION is 250ms, 30s, 5m, 1h, 1h30m, 1.5s, 2d (units ms, s, m, h, d, largest first), or a
plain number of milliseconds; at most 2147483647 ms (about 24.8 days).
`;

export const REPLAY_USAGE = `Usage: proxy-lifecycle replay FILE|- [--connection ID] [--html OUT.html]
       proxy-lifecycle replay nats://HOST:PORT/STREAM [--instance NAME] [--connection ID] [--since TIME] [--html OUT.html]

Reads an event log written by 'forward --log FILE' (- reads it from standard input) and prints
each connection's timeline (time since open, event, client state, server state), then its close
reasons and termination code. A last line torn by a crash (cut off mid-record) is reported on
stderr and the records before it are replayed, exit 0; any other malformed line is exit 2.
A connection with records missing (a hole in their seq, or a gap record) is reported as
'incomplete, N records lost' instead of with close reasons.
A nats:// source reads the JetStream stream 'forward --log nats://...' writes, up to its last
record at the start (records the writer lost are said on stderr).

  --connection ID   only this connection (an id as in the access log, e.g. web1-mf3k2a1b-7)
  --html OUT.html   write the timeline as one self-contained HTML page instead
  --instance NAME   (nats://) only this proxy's records
  --since TIME      (nats://) only records stored from TIME on: ISO 8601, or a duration back (1h)
`;

export const DIAGRAM_USAGE = `Usage: proxy-lifecycle diagram [--format mermaid|dot]

Prints the connection machine's statechart (states, events, guards, delays), generated from
the machine definition itself. Default format: mermaid.
`;

export const DEMO_USAGE = `Usage: proxy-lifecycle demo [--log FILE]

Starts upstream services and a proxy on free loopback ports, runs the scenarios a naive proxy
gets wrong (half-close echo, a stream after the request's FIN, an idle connection surviving
socket timeouts, a peer reset, a graceful shutdown), shows each connection's lifecycle as it
happens, and ends with a summary table. Exits 0 when every scenario delivered what it should.

  --log FILE   append the proxy's event log to FILE as JSON lines, as 'forward --log' does
               (read it with 'replay FILE', or 'replay FILE --html OUT.html')
`;
