-- A claude-mem database (~/.claude-mem/claude-mem.db) in the shape its SessionStore migrations leave
-- (src/services/sqlite/SessionStore.ts in thedotmack/claude-mem, 2026-08): the four tables the importer
-- reads, with their columns and types as there, and rows as its worker writes them (facts and concepts as
-- JSON arrays, created_at_epoch in milliseconds). claude-mem itself runs on Bun (bun:sqlite), which is not
-- installable here, so the tests build the file from this script.
CREATE TABLE sdk_sessions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  content_session_id TEXT NOT NULL,
  memory_session_id TEXT UNIQUE,
  project TEXT NOT NULL,
  platform_source TEXT NOT NULL DEFAULT 'claude',
  user_prompt TEXT,
  started_at TEXT NOT NULL,
  started_at_epoch INTEGER NOT NULL,
  completed_at TEXT,
  completed_at_epoch INTEGER,
  status TEXT NOT NULL DEFAULT 'active' CHECK(status IN ('active', 'completed', 'failed')),
  worker_port INTEGER,
  prompt_counter INTEGER DEFAULT 0,
  custom_title TEXT
);
CREATE TABLE observations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  memory_session_id TEXT NOT NULL,
  project TEXT NOT NULL,
  text TEXT,
  type TEXT NOT NULL,
  title TEXT,
  subtitle TEXT,
  facts TEXT,
  narrative TEXT,
  concepts TEXT,
  files_read TEXT,
  files_modified TEXT,
  prompt_number INTEGER,
  discovery_tokens INTEGER DEFAULT 0,
  created_at TEXT NOT NULL,
  created_at_epoch INTEGER NOT NULL,
  FOREIGN KEY(memory_session_id) REFERENCES sdk_sessions(memory_session_id) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE TABLE session_summaries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  memory_session_id TEXT NOT NULL,
  project TEXT NOT NULL,
  request TEXT,
  investigated TEXT,
  learned TEXT,
  completed TEXT,
  next_steps TEXT,
  files_read TEXT,
  files_edited TEXT,
  notes TEXT,
  prompt_number INTEGER,
  discovery_tokens INTEGER DEFAULT 0,
  created_at TEXT NOT NULL,
  created_at_epoch INTEGER NOT NULL
);
CREATE TABLE user_prompts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  session_db_id INTEGER,
  content_session_id TEXT NOT NULL,
  prompt_number INTEGER NOT NULL,
  prompt_text TEXT NOT NULL,
  created_at TEXT NOT NULL,
  created_at_epoch INTEGER NOT NULL,
  FOREIGN KEY(session_db_id) REFERENCES sdk_sessions(id) ON DELETE CASCADE
);
INSERT INTO sdk_sessions (content_session_id, memory_session_id, project, started_at, started_at_epoch, status)
VALUES ('c-111', 'm-111', 'shop-api', '2026-11-02T10:00:00.000Z', 1793613600000, 'completed'),
       ('c-222', 'm-222', 'billing-lib', '2026-11-04T14:00:00.000Z', 1793800800000, 'completed');
INSERT INTO observations (memory_session_id, project, text, type, title, subtitle, facts, narrative, concepts,
  files_read, files_modified, prompt_number, created_at, created_at_epoch)
VALUES
  ('m-111', 'shop-api', NULL, 'decision', 'Retries capped at three', 'Worker retry policy',
   '["The worker retries a job at most 3 times","Backoff doubles from 2 s"]',
   'The payment worker now retries failed jobs three times with exponential backoff, then parks them.',
   '["how-it-works","pattern"]', '["src/worker.py"]', '["src/worker.py"]', 1,
   '2026-11-02T10:05:00.000Z', 1793613900000),
  ('m-111', 'shop-api', NULL, 'bugfix', 'e2e hang fixed', NULL,
   '["REDIS_URL must be set for the e2e tests"]',
   'The e2e suite hung because conftest read REDIS_URL at import; the fixture now starts Redis.',
   '["problem-solution","gotcha"]', '[]', '["tests/conftest.py"]', 2,
   '2026-11-02T10:20:00.000Z', 1793614800000),
  ('m-222', 'billing-lib', NULL, 'discovery', 'Invoices rounded per line', NULL, '[]',
   'Invoice totals are rounded per line item, not on the total.', '["how-it-works"]', '[]', '[]', 1,
   '2026-11-04T14:10:00.000Z', 1793801400000);
INSERT INTO session_summaries (memory_session_id, project, request, investigated, learned, completed, next_steps,
  notes, prompt_number, created_at, created_at_epoch)
VALUES ('m-111', 'shop-api', 'Fix the flaky e2e tests', 'conftest.py and the worker',
  'conftest must not read environment variables at import time.',
  'The e2e fixture starts a throwaway Redis; worker retries are capped at three.',
  'Add a CI job for the e2e suite.', NULL, 2, '2026-11-02T10:30:00.000Z', 1793615400000);
INSERT INTO user_prompts (session_db_id, content_session_id, prompt_number, prompt_text, created_at, created_at_epoch)
VALUES (1, 'c-111', 1, 'The e2e tests hang again, can you look?', '2026-11-02T10:01:00.000Z', 1793613660000),
       (1, 'c-111', 2, 'From now on we always cap worker retries at three.', '2026-11-02T10:04:00.000Z', 1793613840000),
       (2, 'c-222', 1, 'thanks', '2026-11-04T14:02:00.000Z', 1793800920000);
