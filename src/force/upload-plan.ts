/**
 * What a remote store must hold before forcing: every thunk of the graph that is not already reduced, with its
 * values and executables, and the results of those already reduced. Walked level by level so that memo lookups go to the store in batches.
 */
import { isThunkName, splitTag } from '../ir/name.js';
import { decodeThunk } from '../ir/thunk.js';
import type { Store } from '../store/store.js';

export async function objectsToUpload(
  refs: readonly string[],
  store: Store,
  /** Filled with the refs found unreduced (forceAll need not look them up again: ForceOptions.unreduced). */
  unreduced?: Set<string>,
): Promise<string[]> {
  const objects = new Set<string>();
  const seen = new Set<string>();
  let level = [...new Set(refs)];
  while (level.length > 0) {
    const thunkRefs = level.filter((r) => {
      if (!isThunkName(r)) {
        objects.add(r);
        return false;
      }
      const { name } = splitTag(r);
      if (seen.has(name)) return false;
      seen.add(name);
      return true;
    });
    const reduced = await store.getReductions(thunkRefs);
    const next: string[] = [];
    for (let i = 0; i < thunkRefs.length; i++) {
      const known = reduced[i];
      if (known !== undefined) {
        // Known result: its inputs are not needed, but the result is, wherever the dependant runs (a thunk
        // reduced on this machine only, e.g. by gg infer, has its result here and nowhere else yet).
        next.push(known);
        continue;
      }
      unreduced?.add(thunkRefs[i]!);
      const name = splitTag(thunkRefs[i]!).name;
      const t = decodeThunk(await store.get(name));
      objects.add(name);
      for (const input of [...t.values, ...t.executables]) objects.add(input.name);
      for (const dep of t.thunks) next.push(dep.name);
    }
    level = next;
  }
  return [...objects];
}
