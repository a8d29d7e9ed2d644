// DuckDB comparator of the simplified cohort query (bench/README.md): read_ndjson + SQL, 2 threads.
//
//   node bench/duckdb_query.mjs --source DIR [--as-of 2026-11-26] [--threads 2] [--ids-out FILE]
//
// Needs `npm ci` in bench/ (@duckdb/node-api, exact version in package.json / package-lock.json). Reads
// DIR/Patient.ndjson, Condition.ndjson and Observation.ndjson with an explicit column list (only the fields the
// query uses, as a DuckDB user would write it), prints "selected N" and "sha256 HEX" of the sorted ids (one per line,
// trailing newline) like bench/reference.py, and writes the ids to --ids-out.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

const args = { asOf: '2026-11-26', threads: '2' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i], v = process.argv[i + 1];
  if (k === '--source') args.source = v;
  else if (k === '--as-of') args.asOf = v;
  else if (k === '--threads') args.threads = v;
  else if (k === '--ids-out') args.idsOut = v;
  else { console.error(`unknown option ${k}`); process.exit(2); }
}
if (!args.source || !/^\d{4}-\d{2}-\d{2}$/.test(args.asOf)) {
  console.error('usage: node duckdb_query.mjs --source DIR [--as-of YYYY-MM-DD] [--threads N] [--ids-out FILE]');
  process.exit(2);
}
const lit = (s) => `'${String(s).replaceAll("'", "''")}'`;
const file = (name) => lit(join(args.source, name));
const D = lit(args.asOf);

const CODING = 'STRUCT(system VARCHAR, code VARCHAR)[]';
const QTY = 'STRUCT(value DOUBLE, unit VARCHAR, system VARCHAR, code VARCHAR)';
const sql = `
WITH
pat AS (
  SELECT id, birthDate, deceasedBoolean, deceasedDateTime
  FROM read_ndjson(${file('Patient.ndjson')}, columns = {id: 'VARCHAR', birthDate: 'VARCHAR',
       deceasedBoolean: 'BOOLEAN', deceasedDateTime: 'VARCHAR'})
),
eligible_age AS (
  SELECT id FROM pat
  WHERE NOT coalesce(deceasedBoolean, false)
    AND NOT coalesce(substr(deceasedDateTime, 1, 10) <= ${D}, false)
    AND length(birthDate) = 10
    AND CAST(substr(${D}, 1, 4) AS INTEGER) - CAST(substr(birthDate, 1, 4) AS INTEGER)
        - CASE WHEN substr(birthDate, 6, 5) > substr(${D}, 6, 5) THEN 1 ELSE 0 END BETWEEN 18 AND 65
),
sle AS (
  SELECT DISTINCT substr(subject.reference, 9) AS pid
  FROM read_ndjson(${file('Condition.ndjson')}, columns = {subject: 'STRUCT(reference VARCHAR)',
       code: 'STRUCT(coding ${CODING})', verificationStatus: 'STRUCT(coding ${CODING})'})
  WHERE starts_with(subject.reference, 'Patient/')
    AND len(list_filter(code.coding, c -> (c.system = 'http://snomed.info/sct' AND c.code = '55464009')
        OR (c.system = 'http://hl7.org/fhir/sid/icd-10-cm' AND starts_with(c.code, 'M32.1')))) > 0
    AND coalesce(len(list_filter(verificationStatus.coding, c -> c.code IN ('refuted', 'entered-in-error', 'unconfirmed', 'provisional', 'differential'))), 0) = 0
),
obs_raw AS (
  SELECT substr(subject.reference, 9) AS pid,
         substr(effectiveDateTime, 1, 10) AS day,
         CASE
           WHEN len(list_filter(code.coding, c -> (c.system = 'http://loinc.org' AND c.code = '5130-0')
                OR (c.system = 'http://hospital.example.org/fhir/CodeSystem/lab-test' AND c.code = 'DSDNA'))) > 0 THEN 'dsdna'
           WHEN len(list_filter(code.coding, c -> (c.system = 'http://loinc.org' AND c.code = '5048-4')
                OR (c.system = 'http://hospital.example.org/fhir/CodeSystem/lab-test' AND c.code = 'ANA-IF'))) > 0 THEN 'ana'
           WHEN len(list_filter(code.coding, c -> (c.system = 'http://loinc.org' AND c.code IN ('2160-0', '14682-9', '38483-4'))
                OR (c.system = 'http://hospital.example.org/fhir/CodeSystem/lab-test' AND c.code = 'CREA'))) > 0 THEN 'creat'
           WHEN len(list_filter(code.coding, c -> (c.system = 'http://loinc.org' AND c.code = '2458-8')
                OR (c.system = 'http://hospital.example.org/fhir/CodeSystem/lab-test' AND c.code = 'IGA'))) > 0 THEN 'iga'
         END AS concept,
         valueQuantity.value AS v,
         CASE coalesce(CASE WHEN valueQuantity.system = 'http://unitsofmeasure.org' THEN valueQuantity.code
                            ELSE valueQuantity.unit END, '')
           WHEN 'umol/L' THEN 'umol/L' WHEN 'µmol/L' THEN 'umol/L' WHEN 'μmol/L' THEN 'umol/L' WHEN 'umol/l' THEN 'umol/L'
           WHEN 'mg/dL' THEN 'mg/dL' WHEN 'mg/dl' THEN 'mg/dL' WHEN 'g/L' THEN 'g/L' WHEN 'g/l' THEN 'g/L'
           WHEN 'mg/L' THEN 'mg/L' WHEN 'mg/l' THEN 'mg/L'
         END AS unit,
         valueString,
         interpretation
  FROM read_ndjson(${file('Observation.ndjson')}, columns = {status: 'VARCHAR', code: 'STRUCT(coding ${CODING})',
       subject: 'STRUCT(reference VARCHAR)', effectiveDateTime: 'VARCHAR', valueQuantity: '${QTY}',
       valueString: 'VARCHAR', interpretation: 'STRUCT(coding ${CODING})[]'})
  WHERE coalesce(status, '') NOT IN ('entered-in-error', 'cancelled')
    AND starts_with(subject.reference, 'Patient/')
    AND effectiveDateTime IS NOT NULL
    AND substr(effectiveDateTime, 1, 10) <= ${D}
),
obs AS (
  SELECT pid, day, concept,
         CASE concept
           WHEN 'dsdna' THEN coalesce(len(list_filter(flatten(list_transform(interpretation, i -> i.coding)),
                                                      c -> c.code IN ('H', 'HH', 'POS'))) > 0, false)
           WHEN 'ana' THEN coalesce(TRY_CAST(regexp_extract(valueString, '^\\s*>?\\s*1\\s*[:/]\\s*(\\d+)', 1) AS BIGINT) >= 80, false)
           WHEN 'creat' THEN coalesce((unit = 'mg/dL' AND v > 2.5) OR (unit = 'umol/L' AND v > 221.05), false)
           WHEN 'iga' THEN coalesce((unit = 'mg/dL' AND v < 10) OR (unit = 'g/L' AND v < 0.1) OR (unit = 'mg/L' AND v < 100), false)
         END AS flag
  FROM obs_raw
  WHERE concept IS NOT NULL
),
serology AS (
  SELECT pid FROM (
    SELECT pid, day, flag, max(day) OVER (PARTITION BY pid, concept) AS latest
    FROM obs WHERE concept IN ('dsdna', 'ana') AND day >= CAST(CAST(${D} AS DATE) - INTERVAL 365 DAY AS DATE)::VARCHAR
  ) WHERE day = latest AND flag GROUP BY pid
),
creat_high AS (
  SELECT DISTINCT pid FROM obs
  WHERE concept = 'creat' AND flag AND day >= CAST(CAST(${D} AS DATE) - INTERVAL 56 DAY AS DATE)::VARCHAR
),
iga_low AS (
  SELECT pid FROM (
    SELECT pid, day, flag, max(day) OVER (PARTITION BY pid) AS latest FROM obs WHERE concept = 'iga'
  ) WHERE day = latest AND flag GROUP BY pid
)
SELECT e.id FROM eligible_age e
  JOIN sle ON sle.pid = e.id
  JOIN serology s ON s.pid = e.id
WHERE e.id NOT IN (SELECT pid FROM creat_high)
  AND e.id NOT IN (SELECT pid FROM iga_low)
ORDER BY e.id
`;

const instance = await DuckDBInstance.create(':memory:', { threads: args.threads });
const con = await instance.connect();
const reader = await con.runAndReadAll(sql);
const ids = reader.getRows().map((r) => String(r[0]));
const text = ids.map((id) => id + '\n').join('');
if (args.idsOut) writeFileSync(args.idsOut, text);
const version = (await con.runAndReadAll('SELECT version()')).getRows()[0][0];
console.log(`duckdb ${version} threads ${args.threads}`);
console.log(`selected ${ids.length}`);
console.log(`sha256 ${createHash('sha256').update(text).digest('hex')}`);
