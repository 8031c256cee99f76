-- When an order left for its exchange and when the exchange acknowledged it (wall clock, UTC):
-- the decision's own wall-clock time is trade_decisions.created_at, so decision-to-acknowledgement
-- latency is acknowledged_at - created_at of its decision. The paper desk acknowledges at once.
-- NULL for orders stored before this migration and for a live order found on the exchange
-- after a crash (its sending was not seen).
alter table orders add column sent_at timestamp;
alter table orders add column acknowledged_at timestamp;
