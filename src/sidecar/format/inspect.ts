/**
 * `cusprun inspect MODEL [--json]`: the model map as a table, or as JSON for scripts; and
 * `cusprun inspect --corpus MANIFEST [--json]`: the files a corpus manifest resolves to.
 */
import * as path from 'node:path';
import { inspectModel, LayerMap, ModelMap, ValueInfo } from '../../engine/arch';
import { readManifest } from '../../engine/corpus';
import { formatTable } from './table';

const count = (n: number) => n.toLocaleString('en-US');

function io(values: ValueInfo[]): string {
  return values
    .map(v => `${v.name} ${v.dtype}[${v.shape.join(', ')}]`)
    .join('; ');
}

function layerRow(l: LayerMap): string[] {
  const a = l.attention;
  const f = l.ffn;
  return [
    String(l.index),
    a.kind +
      (a.fusedQkv ? ' fused-qkv' : '') +
      (a.qNorm ? ' qk-norm' : '') +
      (a.q.bias ? ' bias' : ''),
    String(a.heads),
    String(a.kvHeads),
    String(a.headSize),
    String(a.units),
    count(a.paramsPerUnit),
    `${f.kind} ${f.activation}` + (f.fusedGateUp ? ' fused' : ''),
    String(f.width),
    count(f.paramsPerUnit),
    String(l.shapeConstants.length)
  ];
}

/** Layers whose attention is one KV group (MQA): the group is never removed, so say so. */
function singleGroupNote(map: ModelMap): string {
  const single = map.layers.filter(l => l.attention.units === 1);
  if (!single.length) {
    return '';
  }
  const where =
    single.length === map.layers.length
      ? 'every layer'
      : `layers ${single.map(l => l.index).join(', ')}`;
  return `attention: one KV group in ${where}; a layer keeps at least one, so only FFN channels are pruned there\n`;
}

export function formatModelMap(map: ModelMap, cwd = process.cwd()): string {
  const percent = ((100 * map.prunableParams) / map.totalParams).toFixed(1);
  const header = formatTable([
    ['model', path.relative(cwd, map.file) || map.file],
    [
      'family',
      `${map.family} (${map.familySource === 'config' ? `config.json model_type '${map.modelType}'` : 'from graph structure'})`
    ],
    [
      'export',
      `${map.producer || 'unknown producer'}, opset ${map.opset}, ${map.dtype}, external data: ${map.externalData ? 'yes' : 'no'}, KV cache: ${map.kvCache ? 'yes' : 'no'}`
    ],
    [
      'shape',
      `${map.layers.length} layers, hidden ${map.hidden}, vocab ${map.vocab}, tied embeddings: ${map.tiedEmbeddings ? 'yes' : 'no'}`
    ],
    [
      'params',
      `${count(map.totalParams)} in all, ${count(map.prunableParams)} prunable (${percent}%)`
    ],
    ['inputs', io(map.inputs)],
    ['outputs', io(map.outputs)]
  ]);
  const layers = formatTable([
    [
      'layer',
      'attention',
      'heads',
      'kv',
      'head',
      'groups',
      'params/group',
      'ffn',
      'width',
      'params/channel',
      'shape consts'
    ],
    ...map.layers.map(layerRow)
  ]);
  const verdict = map.blockers.length
    ? `pruning: blocked\n${map.blockers.map(b => `  - ${b}`).join('\n')}`
    : 'pruning: ready (no blockers found)';
  return `${header}\n\n${layers}\n\n${singleGroupNote(map)}${verdict}\n`;
}

export function inspect(model: string, options: { json: boolean }): string {
  const map = inspectModel(model);
  return options.json
    ? `${JSON.stringify(map, null, 2)}\n`
    : formatModelMap(map);
}

/**
 * The manifest as scoring reads it: each dimension's source files (folders expanded, paths
 * resolved against the manifest's folder) and settings. The JSON lets a script ship exactly the
 * files a score reads (`cusprun.distributed`) without repeating the manifest's rules.
 */
export function inspectCorpus(
  manifest: string,
  options: { json: boolean }
): string {
  const m = readManifest(manifest);
  if (options.json) {
    return `${JSON.stringify(m, null, 2)}\n`;
  }
  const rows = m.dimensions.flatMap(d =>
    d.files.map(f => [`${d.dimension} (${d.name})`, f.relative])
  );
  return `${formatTable([['dimension', 'source'], ...rows])}\n`;
}
