-- pgbench: CreateDocument's statement with a 1 KiB body and a fresh id.
INSERT INTO documents (id, name, source_uri, content_type, body, attributes, status, status_detail,
  version, create_time, update_time)
  VALUES (gen_random_uuid(), 'bench', 's3://bench/doc', 'text/plain', convert_to(repeat('x', 1024), 'UTF8'),
  '{}'::jsonb, 1, '', 1, now(), now())
  ON CONFLICT (id) DO NOTHING
  RETURNING id::text, name, source_uri, content_type, attributes::text, status, status_detail, version,
  (extract(epoch FROM create_time) * 1000000)::int8, (extract(epoch FROM update_time) * 1000000)::int8;
