-- test/upgrade/fingerprint.sql: a deterministic description of everything the
-- extension fleet_sites owns in the current database, one line per fact, as
-- (section, object, detail), sorted. test/tap/upgrade.t runs it in two
-- databases and compares the lines: a fresh 1.1 install and a 1.0 install
-- updated to 1.1 must give the same ones.
--
-- pg_dump does not dump extension members, so this reads the catalogs. Rows
-- (data) and sequence positions are left out; everything that defines an
-- object is in: the member list (pg_depend deptype 'e'), the extension row
-- and its extconfig/extcondition (by relation name), relations and their
-- options, columns (by visible position: type, default, nullability,
-- identity, collation, storage, column ACL), constraints, indexes, triggers,
-- views, rules, policies, functions, types (enum labels in order, composite
-- attributes through the columns section), sequences, comments of all of
-- these, owners, ACLs and pg_init_privs. No oid appears in the output, so
-- two databases can be compared line by line.
--
-- Objects are named with pg_describe_object or by relation name; both
-- databases must use the same search_path for the names to compare.

WITH ext AS (
    SELECT e.oid, e.extname, e.extversion, e.extrelocatable, e.extnamespace,
           e.extowner, e.extconfig, e.extcondition
      FROM pg_catalog.pg_extension e
     WHERE e.extname = 'fleet_sites'
),
member AS (
    SELECT d.classid, d.objid, d.objsubid
      FROM pg_catalog.pg_depend d JOIN ext ON d.refobjid = ext.oid
     WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.deptype = 'e'
),
-- Member relations, the relation behind each member composite type, and the
-- sequences owned by member tables (identity sequences), whether or not
-- they are members themselves.
rel AS (
    SELECT c.oid FROM member m JOIN pg_catalog.pg_class c ON c.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
    UNION
    SELECT t.typrelid FROM member m JOIN pg_catalog.pg_type t ON t.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_type'::pg_catalog.regclass AND t.typrelid <> 0
    UNION
    SELECT d.objid FROM member m JOIN pg_catalog.pg_depend d
        ON d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid = m.objid
     WHERE m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.deptype IN ('a', 'i')
       AND (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = d.objid) = 'S'
),
relinfo AS (
    SELECT c.*, c.oid AS reloid FROM pg_catalog.pg_class c JOIN rel ON rel.oid = c.oid
),
typ AS (
    SELECT t.*, t.oid AS typoid FROM member m JOIN pg_catalog.pg_type t ON t.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
),
fn AS (
    SELECT p.*, p.oid AS prooid FROM member m JOIN pg_catalog.pg_proc p ON p.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
),
lines (section, object, detail) AS (
    -- the extension itself
    SELECT 'extension', ext.extname,
           pg_catalog.concat_ws(' | ', 'version ' || ext.extversion,
               'relocatable ' || ext.extrelocatable,
               'schema ' || (SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.oid = ext.extnamespace),
               'owner ' || pg_catalog.pg_get_userbyid(ext.extowner),
               'comment ' || pg_catalog.obj_description(ext.oid, 'pg_extension'))
      FROM ext
    UNION ALL
    -- every member object
    SELECT 'member', pg_catalog.pg_describe_object(m.classid, m.objid, m.objsubid), ''
      FROM member m
    UNION ALL
    -- tables whose data pg_dump keeps, with their filter
    SELECT 'extconfig', u.cfg::pg_catalog.regclass::text, 'condition ' || pg_catalog.quote_literal(u.cond)
      FROM ext, LATERAL ROWS FROM (pg_catalog.unnest(ext.extconfig), pg_catalog.unnest(ext.extcondition)) AS u(cfg, cond)
    UNION ALL
    -- relations: kind, options, owner, ACL, comment
    SELECT 'relation', r.relname,
           pg_catalog.concat_ws(' | ', 'kind ' || r.relkind::text, 'persistence ' || r.relpersistence::text,
               'replident ' || r.relreplident::text, 'rls ' || r.relrowsecurity,
               'force rls ' || r.relforcerowsecurity, 'partition ' || r.relispartition,
               'options ' || coalesce(r.reloptions::text, '-'),
               'owner ' || pg_catalog.pg_get_userbyid(r.relowner),
               'acl ' || coalesce(r.relacl::text, '-'),
               'comment ' || coalesce(pg_catalog.obj_description(r.reloid, 'pg_class'), '-'))
      FROM relinfo r
    UNION ALL
    -- columns (also of views and composite types), by visible position
    SELECT 'column', r.relname || '.' || a.attname,
           pg_catalog.concat_ws(' | ',
               'position ' || pg_catalog.row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum),
               'type ' || pg_catalog.format_type(a.atttypid, a.atttypmod),
               'not null ' || a.attnotnull,
               'identity ' || pg_catalog.quote_literal(a.attidentity::text),
               'generated ' || pg_catalog.quote_literal(a.attgenerated::text),
               'default ' || coalesce(pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), '-'),
               'collation ' || coalesce((SELECT co.collname FROM pg_catalog.pg_collation co
                                          WHERE co.oid = a.attcollation), '-'),
               'storage ' || a.attstorage::text,
               'compression ' || pg_catalog.quote_literal(a.attcompression::text),
               'stattarget ' || a.attstattarget,
               -- this server stamps every column with a pg_attver option
               -- that differs from one database to the next: left out
               'options ' || coalesce((SELECT pg_catalog.string_agg(o, ',' ORDER BY o)
                                         FROM pg_catalog.unnest(a.attoptions) AS o
                                        WHERE o !~ '^pg_attver='), '-'),
               'acl ' || coalesce(a.attacl::text, '-'),
               'comment ' || coalesce(pg_catalog.col_description(a.attrelid, a.attnum), '-'))
      FROM relinfo r
      JOIN pg_catalog.pg_attribute a ON a.attrelid = r.reloid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    UNION ALL
    -- constraints of member relations and member types (domains)
    SELECT 'constraint',
           coalesce(r.relname, t.typname) || '.' || co.conname,
           pg_catalog.concat_ws(' | ', 'type ' || co.contype::text,
               pg_catalog.pg_get_constraintdef(co.oid),
               'deferrable ' || co.condeferrable, 'deferred ' || co.condeferred,
               'validated ' || co.convalidated, 'no inherit ' || co.connoinherit,
               'comment ' || coalesce(pg_catalog.obj_description(co.oid, 'pg_constraint'), '-'))
      FROM pg_catalog.pg_constraint co
      LEFT JOIN relinfo r ON r.reloid = co.conrelid
      LEFT JOIN typ t ON t.typoid = co.contypid
     WHERE r.reloid IS NOT NULL OR t.typoid IS NOT NULL
    UNION ALL
    -- indexes (those behind constraints too)
    SELECT 'index', r.relname || '.' || ic.relname,
           pg_catalog.concat_ws(' | ', pg_catalog.pg_get_indexdef(i.indexrelid),
               'clustered ' || i.indisclustered, 'replident ' || i.indisreplident,
               'valid ' || i.indisvalid,
               'comment ' || coalesce(pg_catalog.obj_description(i.indexrelid, 'pg_class'), '-'))
      FROM relinfo r
      JOIN pg_catalog.pg_index i ON i.indrelid = r.reloid
      JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
    UNION ALL
    -- user triggers (the internal ones behind foreign keys are named by oid
    -- and follow from the constraints above)
    SELECT 'trigger', r.relname || '.' || tg.tgname,
           pg_catalog.concat_ws(' | ', pg_catalog.pg_get_triggerdef(tg.oid),
               'enabled ' || tg.tgenabled::text,
               'comment ' || coalesce(pg_catalog.obj_description(tg.oid, 'pg_trigger'), '-'))
      FROM relinfo r
      JOIN pg_catalog.pg_trigger tg ON tg.tgrelid = r.reloid AND NOT tg.tgisinternal
    UNION ALL
    SELECT 'view', r.relname, pg_catalog.pg_get_viewdef(r.reloid)
      FROM relinfo r WHERE r.relkind IN ('v', 'm')
    UNION ALL
    SELECT 'rule', r.relname || '.' || ru.rulename,
           pg_catalog.concat_ws(' | ', pg_catalog.pg_get_ruledef(ru.oid), 'enabled ' || ru.ev_enabled::text,
               'comment ' || coalesce(pg_catalog.obj_description(ru.oid, 'pg_rewrite'), '-'))
      FROM relinfo r
      JOIN pg_catalog.pg_rewrite ru ON ru.ev_class = r.reloid AND ru.rulename <> '_RETURN'
    UNION ALL
    SELECT 'policy', r.relname || '.' || po.polname,
           pg_catalog.concat_ws(' | ', 'command ' || po.polcmd::text, 'permissive ' || po.polpermissive,
               'roles ' || (SELECT pg_catalog.string_agg(CASE ro WHEN 0 THEN 'public'
                                                               ELSE pg_catalog.pg_get_userbyid(ro) END,
                                                          ',' ORDER BY 1)
                              FROM pg_catalog.unnest(po.polroles) AS ro),
               'using ' || coalesce(pg_catalog.pg_get_expr(po.polqual, po.polrelid), '-'),
               'check ' || coalesce(pg_catalog.pg_get_expr(po.polwithcheck, po.polrelid), '-'),
               'comment ' || coalesce(pg_catalog.obj_description(po.oid, 'pg_policy'), '-'))
      FROM relinfo r
      JOIN pg_catalog.pg_policy po ON po.polrelid = r.reloid
    UNION ALL
    -- functions: the whole CREATE statement (language, volatility, security,
    -- SET options, defaults, library symbol), owner, ACL, comment
    SELECT 'function', f.prooid::pg_catalog.regprocedure::text,
           pg_catalog.concat_ws(' | ',
               CASE WHEN f.prokind = 'a' THEN 'aggregate'
                    ELSE pg_catalog.pg_get_functiondef(f.prooid) END,
               'owner ' || pg_catalog.pg_get_userbyid(f.proowner),
               'acl ' || coalesce(f.proacl::text, '-'),
               'comment ' || coalesce(pg_catalog.obj_description(f.prooid, 'pg_proc'), '-'))
      FROM fn f
    UNION ALL
    -- types; enum labels in their sort order
    SELECT 'type', t.typname,
           pg_catalog.concat_ws(' | ', 'kind ' || t.typtype::text, 'category ' || t.typcategory::text,
               'not null ' || t.typnotnull, 'default ' || coalesce(t.typdefault, '-'),
               'base ' || CASE WHEN t.typbasetype = 0 THEN '-'
                               ELSE pg_catalog.format_type(t.typbasetype, t.typtypmod) END,
               'array ' || CASE WHEN t.typarray = 0 THEN '-'
                                ELSE pg_catalog.format_type(t.typarray, NULL) END,
               'labels ' || coalesce((SELECT pg_catalog.string_agg(pg_catalog.quote_literal(en.enumlabel),
                                                                    ', ' ORDER BY en.enumsortorder)
                                        FROM pg_catalog.pg_enum en WHERE en.enumtypid = t.typoid), '-'),
               'owner ' || pg_catalog.pg_get_userbyid(t.typowner),
               'acl ' || coalesce(t.typacl::text, '-'),
               'comment ' || coalesce(pg_catalog.obj_description(t.typoid, 'pg_type'), '-'))
      FROM typ t
    UNION ALL
    -- sequence definitions (not their position: that is data) and owner column
    SELECT 'sequence', r.relname,
           pg_catalog.concat_ws(' | ', 'type ' || pg_catalog.format_type(s.seqtypid, NULL),
               'start ' || s.seqstart, 'increment ' || s.seqincrement,
               'min ' || s.seqmin, 'max ' || s.seqmax, 'cache ' || s.seqcache,
               'cycle ' || s.seqcycle,
               'owned by ' || coalesce((SELECT pg_catalog.pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid)
                                             || ' (' || d.deptype::text || ')'
                                          FROM pg_catalog.pg_depend d
                                         WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                           AND d.objid = r.reloid
                                           AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                           AND d.deptype IN ('a', 'i')), '-'))
      FROM relinfo r JOIN pg_catalog.pg_sequence s ON s.seqrelid = r.reloid
    UNION ALL
    -- event triggers the extension may own
    SELECT 'event trigger', ev.evtname,
           pg_catalog.concat_ws(' | ', 'event ' || ev.evtevent, 'tags ' || coalesce(ev.evttags::text, '-'),
               'function ' || ev.evtfoid::pg_catalog.regprocedure::text, 'enabled ' || ev.evtenabled::text,
               'owner ' || pg_catalog.pg_get_userbyid(ev.evtowner),
               'comment ' || coalesce(pg_catalog.obj_description(ev.oid, 'pg_event_trigger'), '-'))
      FROM member m JOIN pg_catalog.pg_event_trigger ev ON ev.oid = m.objid
     WHERE m.classid = 'pg_catalog.pg_event_trigger'::pg_catalog.regclass
    UNION ALL
    -- the privileges pg_dump takes as the extension's starting point
    SELECT 'init privs', pg_catalog.pg_describe_object(ip.classoid, ip.objoid, ip.objsubid),
           'type ' || ip.privtype::text || ' | ' || ip.initprivs::text
      FROM pg_catalog.pg_init_privs ip
     WHERE (ip.classoid, ip.objoid) IN (SELECT m.classid, m.objid FROM member m)
        OR (ip.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND ip.objoid IN (SELECT oid FROM rel))
)
SELECT section, object, detail FROM lines
 ORDER BY section COLLATE "C", object COLLATE "C", detail COLLATE "C";
