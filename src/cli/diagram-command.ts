import { machineDiagram, type DiagramFormat } from '../index.js';
import { parseArgs } from './args.js';
import { CliError } from './cli-error.js';
import type { Output } from './output.js';
import { DIAGRAM_USAGE } from './usage.js';

const FORMATS: readonly DiagramFormat[] = ['mermaid', 'dot'];

/** `proxy-lifecycle diagram [--format mermaid|dot]`: the statechart from the machine definition. */
export async function runDiagram(argv: readonly string[], out: Output): Promise<number> {
  const { flags, positionals } = parseArgs(argv, { format: 'string', help: 'boolean' }, 'diagram');
  if (flags.has('help')) {
    out.stdout(DIAGRAM_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new CliError(`diagram takes no arguments, got ${JSON.stringify(positionals[0])}`);
  const format = (flags.get('format') as string | undefined) ?? 'mermaid';
  if (!FORMATS.includes(format as DiagramFormat)) {
    throw new CliError(`--format must be mermaid or dot, got ${JSON.stringify(format)}`);
  }
  out.stdout(machineDiagram(format as DiagramFormat));
  return 0;
}
