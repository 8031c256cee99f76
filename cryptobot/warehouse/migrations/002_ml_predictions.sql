-- What each prediction was, in full, so live accuracy can be compared with the validation
-- estimate: `predicted` is the forecast log return over `horizon` bars from the close of bar
-- `ts`; `prob_up` and `direction` (1 up, 0 down) the direction call; `actual` the realised log
-- return, filled once the bar `horizon` bars later has closed; `correct` = direction matched.
alter table ml_predictions add column exchange varchar;
alter table ml_predictions add column horizon integer;
alter table ml_predictions add column family varchar;
alter table ml_predictions add column prob_up double;
alter table ml_predictions add column direction smallint;
alter table ml_predictions add column is_simulated boolean;
alter table ml_predictions add column resolved_at timestamp;
