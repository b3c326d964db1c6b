// placeholder replaced below
int cmd_tokenize(int argc, char **argv);
int cmd_tokenize(int argc, char **argv) { (void)argc; (void)argv; return 2; }
