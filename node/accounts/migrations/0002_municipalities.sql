-- An account's scope at central: the municipalities (SCB kommunkod) whose
-- points it sees, sorted and comma-separated, each code once. '' is every
-- municipality, the whole region: the accounts made before keep seeing
-- everything they saw.
ALTER TABLE accounts ADD COLUMN municipalities TEXT NOT NULL DEFAULT '';
