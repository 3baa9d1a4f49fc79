// Entry point of the load-test harness.
return 0;
