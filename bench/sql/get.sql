-- pgbench: GetDocument's statement on a warm document (ids as bench/loadgen/workload.cc's WarmId).
\set i random(0, :warm - 1)
SELECT id::text, name, source_uri, content_type, attributes::text, status, status_detail, version,
  (extract(epoch FROM create_time) * 1000000)::int8, (extract(epoch FROM update_time) * 1000000)::int8
  FROM documents WHERE id = ('00000000-0000-7000-8000-' || lpad(to_hex(:i::int8), 12, '0'))::uuid;
