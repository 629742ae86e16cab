/**
 * Get-or-compute in a map emptied when it reaches `limit` entries: for values asked on every
 * request whose keys are few in practice but not bounded by flexd (an environment's secret, what a
 * replica reported of its receiver).
 *
 *   const dialect = remember(dialects, key, 64, () => dialectOf(info));
 */
export function remember<K, V>(map: Map<K, V>, key: K, limit: number, compute: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    if (map.size >= limit) map.clear();
    value = compute();
    map.set(key, value);
  }
  return value;
}
