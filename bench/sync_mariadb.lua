-- The load of bench/sync_mariadb.sh, run by sysbench at a fixed rate (--rate): one
-- statement per transaction on `bench_events`, inserts, updates and deletes 5:4:1, each
-- written row stamped with the server's clock at the statement (`changed_at`; the commit
-- of a one-statement transaction follows it within microseconds).

sysbench.cmdline.options = {
  rows = {"Rows loaded before the run (updates and deletes pick among them)", 100000},
}

function thread_init()
  drv = sysbench.sql.driver()
  con = drv:connect()
  -- Each thread inserts keys of its own, above the loaded ones.
  next_id = sysbench.opt.rows + 1 + sysbench.tid * 1000000000
end

function event()
  local r = sysbench.rand.uniform(1, 10)
  if r <= 5 then
    con:query(string.format(
      "INSERT INTO bench_events (id, v, changed_at) VALUES (%d, 1, UTC_TIMESTAMP(6))", next_id))
    next_id = next_id + 1
  elseif r <= 9 then
    con:query(string.format(
      "UPDATE bench_events SET v = v + 1, changed_at = UTC_TIMESTAMP(6) WHERE id = %d",
      sysbench.rand.uniform(1, sysbench.opt.rows)))
  else
    con:query(string.format("DELETE FROM bench_events WHERE id = %d",
      sysbench.rand.uniform(1, sysbench.opt.rows)))
  end
end

function thread_done()
  con:disconnect()
end
