-- A notification to an address that is not verified is not sent, and the delivery log says so
-- (`unverified`): registering someone else's address must not let anyone mail them. The check
-- only widens; every existing row still satisfies it.
alter table email_deliveries drop constraint email_deliveries_outcome_check;
alter table email_deliveries add constraint email_deliveries_outcome_check
    check (outcome in ('sent', 'rejected', 'rate-limited', 'opted-out', 'unverified'));
