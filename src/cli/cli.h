/* Command entry points; each returns the process exit status. */
#ifndef BB_CLI_H
#define BB_CLI_H

int cli_summary(int argc, char **argv);

#endif
