// The `proxy-lifecycle` command: dispatches to forward, replay or demo. Bad input is one
// line on stderr and exit code 2, never a stack trace.
import { redactUrls } from '../log/redact-url.js';
import { CliError } from './cli-error.js';
import { PIPE_BUF, sharesStdio } from './cluster/messages.js';
import { runDemo } from './demo/demo-command.js';
import { runDiagram } from './diagram-command.js';
import { runForward } from './forward-command.js';
import { processOutput, type Output } from './output.js';
import { runReplay } from './replay-command.js';
import { MAIN_USAGE } from './usage.js';
import { VERSION } from './version.js';

const COMMANDS = ['forward', 'replay', 'diagram', 'demo'];

/** Runs one command line; resolves with the exit code. */
export async function run(argv: readonly string[], out: Output): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
      out.stderr(MAIN_USAGE);
      return 2;
    case 'help':
    case '--help':
    case '-h':
      out.stdout(MAIN_USAGE);
      return 0;
    case '--version':
    case '-v':
      out.stdout(VERSION);
      return 0;
    case 'forward':
      return runForward(rest, out);
    case 'replay':
      return runReplay(rest, out);
    case 'diagram':
      return runDiagram(rest, out);
    case 'demo':
      return runDemo(rest, out);
    default:
      throw new CliError(
        command.startsWith('-')
          ? `expected a command (${COMMANDS.join(', ')}) before ${command}`
          : `unknown command ${JSON.stringify(command)}; commands: ${COMMANDS.join(', ')}`,
      );
  }
}

// `forward --workers N`'s processes share standard output and error: writes of whole lines, at most PIPE_BUF each.
const output = processOutput({ maxWrite: sharesStdio(process.argv.slice(2)) ? PIPE_BUF : undefined });
// Exit only once the output is out: a slow pipe (`replay big.jsonl | wc -l`) gets every line.
const exit = (code: number) => void output.flush!().then(() => process.exit(code));

// The last line of a failed run never prints a URL's credentials (`--log nats://USER:PASS@…`), whoever quoted it.
run(process.argv.slice(2), output).then(exit, (err: unknown) => {
  if (err instanceof CliError) {
    output.stderr(`proxy-lifecycle: ${redactUrls(err.message)}`);
    return exit(err.exitCode);
  }
  output.stderr(`proxy-lifecycle: internal error: ${redactUrls(err instanceof Error ? (err.stack ?? err.message) : String(err))}`);
  exit(1);
});
