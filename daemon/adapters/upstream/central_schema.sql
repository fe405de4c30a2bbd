-- SPDX-License-Identifier: Apache-2.0
-- The central zonegate database (PostgreSQL 15), schema `zonegate`. docs/upstream.md is the
-- reference. `zonegate upstream init` runs this whole file in one transaction, as the database
-- owner or a superuser; every statement is idempotent, so running it again changes nothing.
-- The build compiles this file into the binaries verbatim (central_schema_sql.cpp.in).

SELECT pg_advisory_xact_lock(hashtext('zonegate.init'));

-- Group roles (cluster-wide). Gateways log in with one role each, a member of zonegate_gateway.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'zonegate_gateway') THEN
    CREATE ROLE zonegate_gateway NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'zonegate_auditor') THEN
    CREATE ROLE zonegate_auditor NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'zonegate_admin') THEN
    CREATE ROLE zonegate_admin NOLOGIN;
  END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS zonegate;

CREATE TABLE IF NOT EXISTS zonegate.schema_meta (
  key text PRIMARY KEY,
  value text NOT NULL);
INSERT INTO zonegate.schema_meta AS m VALUES ('schema_version', '1')
  ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value WHERE m.value IS DISTINCT FROM EXCLUDED.value;

-- --- gateways and the state of their chains ---------------------------------------------------
CREATE TABLE IF NOT EXISTS zonegate.gateways (
  gateway_id text PRIMARY KEY CHECK (gateway_id ~ '^[a-z0-9-]{1,63}$'),
  site text NOT NULL CHECK (site <> ''),
  role_name text UNIQUE NOT NULL,
  public_key_pem text,
  created_at timestamptz NOT NULL DEFAULT now());

-- The highest contiguous seq the centre holds per gateway; the gateway resumes after it.
CREATE TABLE IF NOT EXISTS zonegate.chain_heads (
  gateway_id text PRIMARY KEY REFERENCES zonegate.gateways,
  seq bigint NOT NULL DEFAULT 0,
  hash bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea,
  time_ms bigint,
  checkpoint_seq bigint NOT NULL DEFAULT 0,
  updated_at timestamptz,
  faulted boolean NOT NULL DEFAULT false);

CREATE TABLE IF NOT EXISTS zonegate.chain_faults (
  id bigserial PRIMARY KEY,
  gateway_id text NOT NULL,
  seq bigint NOT NULL,
  kind text NOT NULL CHECK (kind IN ('gap', 'prev_hash_mismatch', 'fork', 'checkpoint_mismatch')),
  expected_prev bytea,
  got_prev bytea,
  got_hash bytea,
  stored_hash bytea,
  detected_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS chain_faults_gateway ON zonegate.chain_faults (gateway_id, id);

-- --- events: the gateways' audit records, partitioned by UTC month of time_ms ------------------
CREATE TABLE IF NOT EXISTS zonegate.events (
  gateway_id text NOT NULL,
  seq bigint NOT NULL CHECK (seq >= 1),
  time_ms bigint NOT NULL,
  kind text NOT NULL,
  event text, person text, badge text, door text, zone text, direction text,
  verdict text, reason text, alarm text, severity text, source text,
  ref bigint,
  detail text,
  salt bytea,
  personal_digest bytea,
  purged_by bigint,
  prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
  hash bytea NOT NULL CHECK (length(hash) = 32),
  received_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT events_gateway_seq UNIQUE (gateway_id, seq, time_ms))
  PARTITION BY RANGE (time_ms);
CREATE TABLE IF NOT EXISTS zonegate.events_default PARTITION OF zonegate.events DEFAULT;
CREATE INDEX IF NOT EXISTS events_time ON zonegate.events (time_ms);
CREATE INDEX IF NOT EXISTS events_person_time ON zonegate.events (person, time_ms) WHERE person IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_door_time ON zonegate.events (door, time_ms) WHERE door IS NOT NULL;

CREATE TABLE IF NOT EXISTS zonegate.checkpoints (
  gateway_id text NOT NULL,
  seq bigint NOT NULL,
  time_ms bigint NOT NULL,
  hash bytea NOT NULL CHECK (length(hash) = 32),
  key_id bytea NOT NULL CHECK (length(key_id) = 32),
  signature bytea NOT NULL CHECK (length(signature) = 64),
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (gateway_id, seq));

-- --- people and badges, pulled down by the gateways of their site ------------------------------
CREATE SEQUENCE IF NOT EXISTS zonegate.change_version;

CREATE TABLE IF NOT EXISTS zonegate.people (
  site text NOT NULL,
  person_id text NOT NULL,
  name text,
  roles text[] NOT NULL DEFAULT '{}',
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  updated_at timestamptz,
  PRIMARY KEY (site, person_id));
CREATE INDEX IF NOT EXISTS people_site_version ON zonegate.people (site, version);

CREATE TABLE IF NOT EXISTS zonegate.badges (
  site text NOT NULL,
  uid text NOT NULL CHECK (uid ~ '^([0-9A-F]{2}){4,10}$'),
  person_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('uid', 'desfire')),
  valid_from timestamptz,
  valid_until timestamptz,
  revoked boolean NOT NULL DEFAULT false,
  deleted boolean NOT NULL DEFAULT false,
  version bigint NOT NULL,
  updated_at timestamptz,
  PRIMARY KEY (site, uid),
  FOREIGN KEY (site, person_id) REFERENCES zonegate.people (site, person_id));
CREATE INDEX IF NOT EXISTS badges_site_version ON zonegate.badges (site, version);

-- --- functions --------------------------------------------------------------------------------
-- Every SECURITY DEFINER function pins search_path and names its objects with their schema.

-- The gateway the session logged in as (session_user, unaffected by SET ROLE), or NULL.
CREATE OR REPLACE FUNCTION zonegate.current_gateway() RETURNS text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
  SELECT g.gateway_id FROM zonegate.gateways g WHERE g.role_name = session_user::text
$$;

-- Rows of events and checkpoints may be inserted by their own gateway, or by a role that is no
-- gateway at all (the owner, a superuser: tests, benchmarks, restores).
CREATE OR REPLACE FUNCTION zonegate.check_inserting_gateway(target text) RETURNS void
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  caller text := zonegate.current_gateway();
BEGIN
  IF caller IS NOT NULL THEN
    IF caller IS DISTINCT FROM target THEN
      RAISE EXCEPTION 'zonegate: gateway % may not insert records of gateway %', caller, target
        USING ERRCODE = 'insufficient_privilege';
    END IF;
  ELSIF pg_has_role(session_user, 'zonegate_gateway', 'MEMBER')
        AND NOT (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user::text) THEN
    RAISE EXCEPTION 'zonegate: role % is not registered as a gateway', session_user
      USING ERRCODE = 'insufficient_privilege';
  END IF;
END
$$;

-- Chain continuity, per row, before the row is stored. The gateway's chain_heads row is locked
-- for the rest of the transaction on its first row; the running head is then kept in a
-- transaction-local setting, zonegate.head_<gateway> = 'f:<seq>:<hex hash>' ('t:…' once faulted),
-- which is rolled back with the transaction or savepoint like the rows, and written back to
-- chain_heads once per statement by events_advance_heads(). So a batch of N rows costs one row
-- lock and one UPDATE, not N.
--
-- events_check_chain() is the per-row fast path: the row continues the cached head. It has no
-- SET search_path (that costs a configuration save and restore per row), so every name in it is
-- qualified with pg_catalog, operators included, and no PERFORM (a PERFORM runs a whole query
-- through SPI; an assignment is evaluated as a simple expression). Anything else goes to
-- events_check_chain_slow().
--
-- The setting is the session's, so the client can change it between statements (or from a
-- function called while an INSERT ... SELECT runs) and make the fast path accept a row that does
-- not continue the chain, or a row of another gateway. That is why the slow path checks the
-- inserting gateway on every call before it writes anything, and why events_advance_heads()
-- checks, once per statement, that the stored rows continue the locked head in chain_heads: a
-- forged setting aborts the statement instead of storing anything.
CREATE OR REPLACE FUNCTION zonegate.events_check_chain_slow(r zonegate.events) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  setting text := 'zonegate.head_' || translate(r.gateway_id, '-', '_');
  cached text := current_setting(setting, true);
  head_seq bigint;
  head_hash bytea;
  head_faulted boolean;
  stored_hash bytea;
  stored_prev bytea;
  fault text;
BEGIN
  -- Before anything else, even with a cached head: the cache is the client's to change, and this
  -- function records faults and faults heads.
  PERFORM zonegate.check_inserting_gateway(r.gateway_id);
  IF cached IS NULL OR cached = '' THEN
    -- First row of this gateway in the transaction: where its chain stands.
    SELECT h.seq, h.hash, h.faulted INTO head_seq, head_hash, head_faulted
      FROM zonegate.chain_heads h WHERE h.gateway_id = r.gateway_id FOR UPDATE;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'zonegate: unknown gateway %', r.gateway_id USING ERRCODE = 'foreign_key_violation';
    END IF;
  ELSE
    head_faulted := split_part(cached, ':', 1) = 't';
    head_seq := split_part(cached, ':', 2)::bigint;
    head_hash := decode(split_part(cached, ':', 3), 'hex');
  END IF;
  IF head_faulted THEN
    PERFORM set_config(setting, 't:' || head_seq || ':' || encode(head_hash, 'hex'), true);
    RETURN false;
  END IF;
  IF r.seq = head_seq + 1 AND r.prev_hash = head_hash THEN
    PERFORM set_config(setting, 'f:' || r.seq || ':' || encode(r.hash, 'hex'), true);
    RETURN true;
  END IF;
  IF r.seq <= head_seq THEN
    -- A retry (after a lost COMMIT acknowledgement) or a fork. The first lookup is pruned to one
    -- partition by time_ms; a fork may carry another time, hence the second.
    SELECT e.hash, e.prev_hash INTO stored_hash, stored_prev FROM zonegate.events e
     WHERE e.gateway_id = r.gateway_id AND e.seq = r.seq AND e.time_ms = r.time_ms;
    IF FOUND AND stored_hash = r.hash THEN
      PERFORM set_config(setting, 'f:' || head_seq || ':' || encode(head_hash, 'hex'), true);
      RETURN false;
    END IF;
    IF NOT FOUND THEN
      SELECT e.hash, e.prev_hash INTO stored_hash, stored_prev FROM zonegate.events e
       WHERE e.gateway_id = r.gateway_id AND e.seq = r.seq;
    END IF;
    fault := 'fork';
  ELSIF r.seq > head_seq + 1 THEN
    fault := 'gap';
    stored_prev := head_hash;
  ELSE
    fault := 'prev_hash_mismatch';
    stored_prev := head_hash;
  END IF;
  INSERT INTO zonegate.chain_faults (gateway_id, seq, kind, expected_prev, got_prev, got_hash, stored_hash)
  VALUES (r.gateway_id, r.seq, fault, stored_prev, r.prev_hash, r.hash, stored_hash);
  UPDATE zonegate.chain_heads SET faulted = true, updated_at = now() WHERE gateway_id = r.gateway_id;
  PERFORM set_config(setting, 't:' || head_seq || ':' || encode(head_hash, 'hex'), true);
  RETURN false;
END
$$;

CREATE OR REPLACE FUNCTION zonegate.events_check_chain() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
AS $$
DECLARE
  setting pg_catalog.text := 'zonegate.head_' OPERATOR(pg_catalog.||) pg_catalog.translate(NEW.gateway_id, '-', '_');
  ignored pg_catalog.text;
BEGIN
  IF pg_catalog.current_setting(setting, true) OPERATOR(pg_catalog.=)
     ('f:' OPERATOR(pg_catalog.||) (NEW.seq OPERATOR(pg_catalog.-) 1)::pg_catalog.text OPERATOR(pg_catalog.||) ':'
      OPERATOR(pg_catalog.||) pg_catalog.encode(NEW.prev_hash, 'hex')) THEN
    ignored := pg_catalog.set_config(setting, 'f:' OPERATOR(pg_catalog.||) NEW.seq::pg_catalog.text
                                     OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) pg_catalog.encode(NEW.hash, 'hex'),
                                     true);
    RETURN NEW;
  END IF;
  IF zonegate.events_check_chain_slow(NEW) THEN
    RETURN NEW;
  END IF;
  RETURN NULL;
END
$$;

-- Once per statement, per gateway with rows in it: the gateway may insert them, and they continue
-- the head in chain_heads (locked; its seq and hash change only here), each the one before; then
-- the head advances to the last. The sync's rows arrive in seq order, so the sort is cheap.
CREATE OR REPLACE FUNCTION zonegate.events_advance_heads() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  gw text;
  head_seq bigint;
  head_hash bytea;
  bad_seq bigint;
  last record;
BEGIN
  FOR gw, head_seq, head_hash IN
    SELECT h.gateway_id, h.seq, h.hash FROM zonegate.chain_heads h
     WHERE h.gateway_id IN (SELECT r.gateway_id FROM new_rows r) ORDER BY h.gateway_id FOR UPDATE
  LOOP
    PERFORM zonegate.check_inserting_gateway(gw);
    SELECT c.seq INTO bad_seq
      FROM (SELECT r.seq, r.prev_hash, lag(r.seq, 1, head_seq) OVER w AS before_seq,
                   lag(r.hash, 1, head_hash) OVER w AS before_hash
              FROM new_rows r WHERE r.gateway_id = gw WINDOW w AS (ORDER BY r.seq)) c
     WHERE c.seq <> c.before_seq + 1 OR c.prev_hash <> c.before_hash
     LIMIT 1;
    IF FOUND THEN
      RAISE EXCEPTION 'zonegate: record % of gateway % does not continue its chain (zonegate.head_* was changed)',
        bad_seq, gw USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT r.seq, r.hash, r.time_ms INTO last FROM new_rows r WHERE r.gateway_id = gw ORDER BY r.seq DESC LIMIT 1;
    UPDATE zonegate.chain_heads SET seq = last.seq, hash = last.hash, time_ms = last.time_ms, updated_at = now()
     WHERE gateway_id = gw;
  END LOOP;
  RETURN NULL;
END
$$;

-- A checkpoint must sign an event the centre holds, with the same hash. An identical re-insert
-- is skipped silently; anything else is recorded in chain_faults and skipped (never an error, so
-- a COPY of checkpoints is not aborted by one bad row).
CREATE OR REPLACE FUNCTION zonegate.checkpoints_check() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  old_hash bytea;
  old_signature bytea;
  stored_hash bytea;
BEGIN
  PERFORM zonegate.check_inserting_gateway(NEW.gateway_id);
  PERFORM 1 FROM zonegate.chain_heads h WHERE h.gateway_id = NEW.gateway_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'zonegate: unknown gateway %', NEW.gateway_id USING ERRCODE = 'foreign_key_violation';
  END IF;
  SELECT c.hash, c.signature INTO old_hash, old_signature FROM zonegate.checkpoints c
   WHERE c.gateway_id = NEW.gateway_id AND c.seq = NEW.seq;
  IF FOUND THEN
    IF old_hash = NEW.hash AND old_signature = NEW.signature THEN
      RETURN NULL;
    END IF;
    stored_hash := old_hash;
  ELSE
    SELECT e.hash INTO stored_hash FROM zonegate.events e WHERE e.gateway_id = NEW.gateway_id AND e.seq = NEW.seq;
    IF FOUND AND stored_hash = NEW.hash THEN
      UPDATE zonegate.chain_heads SET checkpoint_seq = greatest(checkpoint_seq, NEW.seq)
       WHERE gateway_id = NEW.gateway_id;
      RETURN NEW;
    END IF;
  END IF;
  INSERT INTO zonegate.chain_faults (gateway_id, seq, kind, got_hash, stored_hash)
  VALUES (NEW.gateway_id, NEW.seq, 'checkpoint_mismatch', NEW.hash, stored_hash);
  -- A signed checkpoint that contradicts a stored event: the chains have diverged.
  IF stored_hash IS NOT NULL THEN
    UPDATE zonegate.chain_heads SET faulted = true, updated_at = now() WHERE gateway_id = NEW.gateway_id;
  END IF;
  RETURN NULL;
END
$$;

-- Creates the monthly partitions (UTC) covering [from_ms, to_ms]. Rows of that month already in
-- events_default are moved into the new partition. Months outside 2000..2199 and any beyond the
-- 120th of one call stay in the default partition. Returns the number of partitions created.
-- Creating a partition locks the events table: call it in a short transaction of its own.
CREATE OR REPLACE FUNCTION zonegate.ensure_partitions(from_ms bigint, to_ms bigint) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  month timestamp;
  last_month timestamp;
  lo bigint;
  hi bigint;
  part text;
  created integer := 0;
  locked boolean := false;
BEGIN
  IF from_ms IS NULL OR to_ms IS NULL OR to_ms < from_ms THEN
    RETURN 0;
  END IF;
  month := greatest(date_trunc('month', to_timestamp(from_ms / 1000.0) AT TIME ZONE 'UTC'), timestamp '2000-01-01');
  last_month := least(date_trunc('month', to_timestamp(to_ms / 1000.0) AT TIME ZONE 'UTC'), timestamp '2199-12-01');
  FOR i IN 1..120 LOOP
    EXIT WHEN month > last_month;
    part := 'events_y' || to_char(month, 'YYYY') || 'm' || to_char(month, 'MM');
    IF to_regclass('zonegate.' || part) IS NULL THEN
      IF NOT locked THEN
        -- Serialises concurrent creators; checked again under the lock.
        PERFORM pg_advisory_xact_lock(hashtext('zonegate.partitions'));
        locked := true;
      END IF;
      IF to_regclass('zonegate.' || part) IS NULL THEN
        lo := (extract(epoch FROM month AT TIME ZONE 'UTC') * 1000)::bigint;
        hi := (extract(epoch FROM (month + interval '1 month') AT TIME ZONE 'UTC') * 1000)::bigint;
        IF EXISTS (SELECT FROM zonegate.events_default d WHERE d.time_ms >= lo AND d.time_ms < hi) THEN
          EXECUTE format('CREATE TABLE zonegate.%I (LIKE zonegate.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
          EXECUTE format('WITH moved AS (DELETE FROM zonegate.events_default WHERE time_ms >= %s AND time_ms < %s '
                         'RETURNING *) INSERT INTO zonegate.%I SELECT * FROM moved', lo, hi, part);
          EXECUTE format('ALTER TABLE zonegate.events ATTACH PARTITION zonegate.%I FOR VALUES FROM (%s) TO (%s)',
                         part, lo, hi);
        ELSE
          EXECUTE format('CREATE TABLE zonegate.%I PARTITION OF zonegate.events FOR VALUES FROM (%s) TO (%s)',
                         part, lo, hi);
        END IF;
        -- The ACL init leaves on every table (owner only), so that init sees no drift.
        EXECUTE format('REVOKE ALL ON zonegate.%I FROM PUBLIC', part);
        created := created + 1;
      END IF;
    END IF;
    month := month + interval '1 month';
  END LOOP;
  RETURN created;
END
$$;

-- Change versions: one sequence for people and badges. Writers hold an exclusive advisory lock
-- from taking their version until commit; pull_changes takes it shared, so once it runs no
-- writer can still commit a version below the ones it returns.
CREATE OR REPLACE FUNCTION zonegate.stamp_version() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND (NEW.site IS DISTINCT FROM OLD.site
      OR to_jsonb(NEW) ->> TG_ARGV[0] IS DISTINCT FROM to_jsonb(OLD) ->> TG_ARGV[0]) THEN
    RAISE EXCEPTION 'zonegate: the key of %.% cannot change (mark the row deleted and insert a new one)',
      TG_TABLE_NAME, TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('zonegate.changes'));
  NEW.version := nextval('zonegate.change_version');
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

-- The calling gateway's site's changes after `since`, in version order, at most max_rows (1 ..
-- 100000). A badge whose person changed later than the last row returned comes with that
-- person's current row, at the badge's version, so that every batch is complete in itself.
CREATE OR REPLACE FUNCTION zonegate.pull_changes(since bigint, max_rows integer)
  RETURNS TABLE (version bigint, what text, id text, person_id text, name text, roles text[], kind text,
                 valid_from_ms bigint, valid_until_ms bigint, revoked boolean, deleted boolean)
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  gw_site text;
BEGIN
  SELECT g.site INTO gw_site FROM zonegate.gateways g WHERE g.gateway_id = zonegate.current_gateway();
  IF gw_site IS NULL THEN
    RAISE EXCEPTION 'zonegate: pull_changes: role % is not a registered gateway', session_user
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  PERFORM pg_advisory_xact_lock_shared(hashtext('zonegate.changes'));
  RETURN QUERY
  WITH page AS (
    SELECT * FROM (
      SELECT p.version, 'person'::text AS what, p.person_id AS id, p.person_id, p.name, p.roles,
             NULL::text AS kind, NULL::bigint AS valid_from_ms, NULL::bigint AS valid_until_ms,
             NULL::boolean AS revoked, p.deleted
        FROM zonegate.people p
       WHERE p.site = gw_site AND p.version > since
      UNION ALL
      SELECT b.version, 'badge'::text, b.uid, b.person_id, NULL::text, NULL::text[], b.kind,
             (extract(epoch FROM b.valid_from) * 1000)::bigint, (extract(epoch FROM b.valid_until) * 1000)::bigint,
             b.revoked, b.deleted
        FROM zonegate.badges b
       WHERE b.site = gw_site AND b.version > since) c
     ORDER BY c.version
     LIMIT greatest(1, least(max_rows, 100000))),
  top AS (SELECT max(page.version) AS v FROM page),
  companions AS (
    SELECT DISTINCT ON (p.person_id) b.version, 'person'::text, p.person_id, p.person_id, p.name, p.roles,
           NULL::text, NULL::bigint, NULL::bigint, NULL::boolean, p.deleted
      FROM page b
      JOIN zonegate.people p ON p.site = gw_site AND p.person_id = b.person_id
      CROSS JOIN top
     WHERE b.what = 'badge' AND p.version > top.v
     ORDER BY p.person_id, b.version)
  SELECT * FROM (SELECT * FROM page UNION ALL SELECT * FROM companions) r
   ORDER BY r.version, r.what DESC, r.id;
END
$$;

CREATE OR REPLACE FUNCTION zonegate.gateway_added() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  INSERT INTO zonegate.chain_heads (gateway_id) VALUES (NEW.gateway_id) ON CONFLICT (gateway_id) DO NOTHING;
  RETURN NULL;
END
$$;

-- --- triggers ---------------------------------------------------------------------------------
CREATE OR REPLACE TRIGGER events_check_chain BEFORE INSERT ON zonegate.events
  FOR EACH ROW EXECUTE FUNCTION zonegate.events_check_chain();
CREATE OR REPLACE TRIGGER events_advance_heads AFTER INSERT ON zonegate.events
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION zonegate.events_advance_heads();
CREATE OR REPLACE TRIGGER checkpoints_check BEFORE INSERT ON zonegate.checkpoints
  FOR EACH ROW EXECUTE FUNCTION zonegate.checkpoints_check();
CREATE OR REPLACE TRIGGER people_version BEFORE INSERT OR UPDATE ON zonegate.people
  FOR EACH ROW EXECUTE FUNCTION zonegate.stamp_version('person_id');
CREATE OR REPLACE TRIGGER badges_version BEFORE INSERT OR UPDATE ON zonegate.badges
  FOR EACH ROW EXECUTE FUNCTION zonegate.stamp_version('uid');
CREATE OR REPLACE TRIGGER gateways_added AFTER INSERT ON zonegate.gateways
  FOR EACH ROW EXECUTE FUNCTION zonegate.gateway_added();

-- --- views for the gateways (events and checkpoints have no RLS: see below) -------------------
CREATE OR REPLACE VIEW zonegate.my_events WITH (security_barrier) AS
  SELECT * FROM zonegate.events WHERE gateway_id = (SELECT zonegate.current_gateway());
CREATE OR REPLACE VIEW zonegate.my_checkpoints WITH (security_barrier) AS
  SELECT * FROM zonegate.checkpoints WHERE gateway_id = (SELECT zonegate.current_gateway());

-- --- privileges -------------------------------------------------------------------------------
-- Nothing for PUBLIC; the three groups get exactly what docs/upstream.md lists. No role but the
-- owner gets UPDATE, DELETE or TRUNCATE on events, checkpoints, chain_heads or chain_faults.
REVOKE ALL ON SCHEMA zonegate FROM PUBLIC;
GRANT USAGE ON SCHEMA zonegate TO zonegate_gateway, zonegate_auditor, zonegate_admin;
REVOKE ALL ON ALL TABLES IN SCHEMA zonegate FROM PUBLIC, zonegate_gateway, zonegate_auditor, zonegate_admin;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA zonegate FROM PUBLIC, zonegate_gateway, zonegate_auditor, zonegate_admin;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA zonegate FROM PUBLIC, zonegate_gateway, zonegate_auditor, zonegate_admin;

-- Gateways: COPY or INSERT their own rows (the triggers refuse other gateways' rows), read their
-- own state. PostgreSQL refuses COPY FROM into a table with row-level security enabled, so the
-- per-gateway rule on events and checkpoints is the trigger's, and reading goes through the views.
GRANT INSERT ON zonegate.events, zonegate.checkpoints TO zonegate_gateway;
GRANT SELECT ON zonegate.chain_heads, zonegate.chain_faults, zonegate.my_events, zonegate.my_checkpoints
  TO zonegate_gateway;
GRANT EXECUTE ON FUNCTION zonegate.current_gateway(), zonegate.pull_changes(bigint, integer),
  zonegate.ensure_partitions(bigint, bigint) TO zonegate_gateway;

-- Auditors read everything; administrators also manage gateways, people and badges.
GRANT SELECT ON zonegate.gateways, zonegate.chain_heads, zonegate.chain_faults, zonegate.events,
  zonegate.checkpoints, zonegate.people, zonegate.badges, zonegate.schema_meta
  TO zonegate_auditor, zonegate_admin;
GRANT INSERT, UPDATE ON zonegate.gateways, zonegate.people, zonegate.badges TO zonegate_admin;
GRANT EXECUTE ON FUNCTION zonegate.current_gateway() TO zonegate_auditor, zonegate_admin;

-- --- row-level security -----------------------------------------------------------------------
ALTER TABLE zonegate.chain_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE zonegate.chain_faults ENABLE ROW LEVEL SECURITY;
ALTER TABLE zonegate.people ENABLE ROW LEVEL SECURITY;
ALTER TABLE zonegate.badges ENABLE ROW LEVEL SECURITY;

CREATE FUNCTION pg_temp.ensure_policy(tbl text, pol text, cmd text, roles text, qual text, chk text)
  RETURNS void LANGUAGE plpgsql
AS $$
BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_policies p WHERE p.schemaname = 'zonegate' AND p.tablename = tbl
             AND p.policyname = pol) THEN
    EXECUTE format('ALTER POLICY %I ON zonegate.%I TO %s', pol, tbl, roles)
      || CASE WHEN qual IS NULL THEN '' ELSE format(' USING (%s)', qual) END
      || CASE WHEN chk IS NULL THEN '' ELSE format(' WITH CHECK (%s)', chk) END;
  ELSE
    EXECUTE format('CREATE POLICY %I ON zonegate.%I FOR %s TO %s', pol, tbl, cmd, roles)
      || CASE WHEN qual IS NULL THEN '' ELSE format(' USING (%s)', qual) END
      || CASE WHEN chk IS NULL THEN '' ELSE format(' WITH CHECK (%s)', chk) END;
  END IF;
END
$$;

SELECT pg_temp.ensure_policy('chain_heads', 'gateway_reads_own', 'SELECT', 'zonegate_gateway',
                             'gateway_id = (SELECT zonegate.current_gateway())', NULL);
SELECT pg_temp.ensure_policy('chain_heads', 'staff_read', 'SELECT', 'zonegate_auditor, zonegate_admin', 'true', NULL);
SELECT pg_temp.ensure_policy('chain_faults', 'gateway_reads_own', 'SELECT', 'zonegate_gateway',
                             'gateway_id = (SELECT zonegate.current_gateway())', NULL);
SELECT pg_temp.ensure_policy('chain_faults', 'staff_read', 'SELECT', 'zonegate_auditor, zonegate_admin', 'true', NULL);
SELECT pg_temp.ensure_policy('people', 'staff_read', 'SELECT', 'zonegate_auditor, zonegate_admin', 'true', NULL);
SELECT pg_temp.ensure_policy('people', 'admin_insert', 'INSERT', 'zonegate_admin', NULL, 'true');
SELECT pg_temp.ensure_policy('people', 'admin_update', 'UPDATE', 'zonegate_admin', 'true', 'true');
SELECT pg_temp.ensure_policy('badges', 'staff_read', 'SELECT', 'zonegate_auditor, zonegate_admin', 'true', NULL);
SELECT pg_temp.ensure_policy('badges', 'admin_insert', 'INSERT', 'zonegate_admin', NULL, 'true');
SELECT pg_temp.ensure_policy('badges', 'admin_update', 'UPDATE', 'zonegate_admin', 'true', 'true');
DROP FUNCTION pg_temp.ensure_policy(text, text, text, text, text, text);
