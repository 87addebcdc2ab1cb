SET TIME ZONE 'UTC'
-- ;;;
SET extra_float_digits = 3
-- ;;;
SET application_name = 'PostgreSQL JDBC Driver'
-- ;;;
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED
-- ;;;
BEGIN ISOLATION LEVEL REPEATABLE READ
-- ;;;
START TRANSACTION READ ONLY
-- ;;;
SHOW TRANSACTION ISOLATION LEVEL
-- ;;;
select nextval('guests_seq')
-- ;;;
SELECT pg_catalog.version()
-- ;;;
drop table if exists pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers
-- ;;;
create table pgbench_history(tid int,bid int,aid    int,delta int,mtime timestamp,filler char(22))
-- ;;;
create table pgbench_accounts(aid    int not null,bid int,abalance int,filler char(84)) with (fillfactor=100)
-- ;;;
copy pgbench_accounts from stdin with (freeze on)
-- ;;;
vacuum analyze pgbench_branches
-- ;;;
alter table pgbench_branches add primary key (bid)
-- ;;;
truncate table pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers
-- ;;;
select o.n, p.partstrat, pg_catalog.count(i.inhparent) from pg_catalog.pg_class as c join pg_catalog.pg_namespace as n on (n.oid = c.relnamespace) cross join lateral (select pg_catalog.array_position(pg_catalog.current_schemas(true), n.nspname)) as o(n) left join pg_catalog.pg_partitioned_table as p on (p.partrelid = c.oid) left join pg_catalog.pg_inherits as i on (c.oid = i.inhparent) where c.relname = 'pgbench_accounts' and o.n is not null group by 1, 2 order by 1 asc limit 1
-- ;;;
insert into pgbench_branches(bid,bbalance) values(1,0)
-- ;;;
SELECT "guests"."id", "guests"."name" FROM "guests" WHERE "guests"."id" = $1 LIMIT 21
-- ;;;
select g1_0.id,g1_0.name,g1_0.phone from guests g1_0 where g1_0.id=$1
-- ;;;
SELECT guests.id AS guests_id, guests.phone AS guests_phone FROM guests WHERE guests.id = 5
-- ;;;
SAVEPOINT sa_savepoint_1
-- ;;;
RELEASE SAVEPOINT sa_savepoint_1
-- ;;;
ROLLBACK TO SAVEPOINT sa_savepoint_1
-- ;;;
DISCARD ALL
-- ;;;
RESET ALL
-- ;;;
LOCK TABLE guests IN SHARE MODE
-- ;;;
SELECT * FROM guests FOR UPDATE SKIP LOCKED
-- ;;;
MOVE FORWARD 5 IN c
-- ;;;
CHECKPOINT
-- ;;;
SELECT EXISTS (SELECT 1 FROM guests WHERE phone = $1)
-- ;;;
SELECT count(*) AS "__count" FROM "guests" WHERE "guests"."birthday" BETWEEN $1 AND $2
-- ;;;
UPDATE "guests" SET "email" = $1 WHERE "guests"."id" = $2
-- ;;;
SELECT g.name, p.amount FROM guests g LEFT OUTER JOIN payments p ON (g.id = p.guest_id) WHERE (g.id IN (1, 2, 3) AND p.amount > 100) ORDER BY g.name DESC NULLS LAST OFFSET 10 ROWS FETCH FIRST 5 ROWS ONLY
-- ;;;
SELECT $1::text
-- ;;;
SELECT current_setting('search_path'), current_user, session_user, now()
-- ;;;
SELECT x FROM generate_series(1, 10) AS x
-- ;;;
CREATE VIEW guest_contacts AS SELECT id, name, upper(phone) AS phone_upper FROM guests
-- ;;;
CREATE ROLE front_desk NOLOGIN
-- ;;;
SELECT t.typname, t.oid FROM pg_type t WHERE t.typname = ANY($1::text[])
-- ;;;
SELECT array_agg(phone ORDER BY id) FROM guests
-- ;;;
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY birthday) FROM guests
-- ;;;
SELECT phone FROM guests g WHERE g.id = 1 INTERSECT SELECT phone FROM blacklist
-- ;;;
TABLE guests
-- ;;;
VALUES (1, 'a'), (2, 'b')
-- ;;;
SELECT * FROM guests NATURAL JOIN payments
-- ;;;
SELECT * FROM guests JOIN payments USING (id)
-- ;;;
SELECT (g).phone FROM (SELECT g FROM guests g) s
-- ;;;
SELECT phone COLLATE "C" FROM guests
-- ;;;
SELECT ARRAY[phone] FROM guests
-- ;;;
SELECT phone, pg_sleep(1) FROM guests
-- ;;;
SELECT jsonb_build_object('p', phone) FROM guests
-- ;;;
SELECT query_to_xml('select phone from guests', true, true, '')
-- ;;;
SELECT * FROM pg_stat_activity
-- ;;;
SELECT lo_import('/etc/passwd')
-- ;;;
EXPLAIN ANALYZE SELECT phone FROM guests
-- ;;;
COPY guests TO '/tmp/x.csv' WITH (FORMAT csv)
-- ;;;
COPY (SELECT phone FROM guests) TO PROGRAM 'cat'
