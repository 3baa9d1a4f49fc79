// Entry point of the gateway.
return 0;
