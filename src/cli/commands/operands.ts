/** Operand helpers shared by the front-end commands (gg test, gg map). */
import type { Command } from 'commander';

/**
 * Split a variadic operand list at the command line's `--`: commander hands both sides over as one list,
 * so the split is found from the raw arguments (everything after the first `--` is taken as is).
 */
export function argsAfterDashDash(cmd: Command, operands: readonly string[]): { before: string[]; after: string[] } {
  let root: Command = cmd;
  while (root.parent) root = root.parent;
  const raw = (root as Command & { rawArgs?: string[] }).rawArgs ?? [];
  const dd = raw.indexOf('--');
  const after = dd < 0 ? 0 : Math.min(raw.length - dd - 1, operands.length);
  return { before: operands.slice(0, operands.length - after), after: operands.slice(operands.length - after) };
}
