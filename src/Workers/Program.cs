// Entry point of the worker executable; subcommands are added by the capabilities that own them.
return 0;
