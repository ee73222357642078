-- The sync job records when it last synced each user.
ALTER TABLE users ADD COLUMN synced_at timestamptz;
