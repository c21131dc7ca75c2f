// Reads parquet files with hyparquet (an independent JavaScript reader) and
// prints, per file, its schema, key-value metadata, row-group sizes and rows
// as JSON. Usage: node readparquet.mjs TOOLS_DIR FILE...
import path from 'node:path'

const [tools, ...files] = process.argv.slice(2)
const hp = await import(path.join(tools, 'node_modules/hyparquet/src/node.js'))
const { compressors } = await import(path.join(tools, 'node_modules/hyparquet-compressors/src/index.js'))

const out = {}
for (const f of files) {
  const file = await hp.asyncBufferFromFile(f)
  const meta = await hp.parquetMetadataAsync(file)
  const rows = await hp.parquetReadObjects({ file, compressors, metadata: meta })
  const kv = {}
  for (const e of meta.key_value_metadata ?? []) kv[e.key] = e.value
  out[f] = {
    columns: meta.schema.slice(1).map(s => ({ name: s.name, type: s.type ?? null, converted: s.converted_type ?? null, children: s.num_children ?? 0 })),
    kv,
    row_groups: meta.row_groups.map(rg => Number(rg.num_rows)),
    codecs: [...new Set(meta.row_groups.flatMap(rg => rg.columns.map(c => c.meta_data.codec)))],
    rows,
  }
}
process.stdout.write(JSON.stringify(out, (_, v) => typeof v === 'bigint' ? Number(v) : v))
