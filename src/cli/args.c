/* Command-line flags from the configuration table, and the presets. */
#include "cli/cli.h"

#include "comm/comm.h"
#include "util/hooks.h"
#include "train/trainer.h"

#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct { const char *name, *help; const char *const kv[16]; } presets[] = {
    {"quick", "the defaults: ResNet-20, kn 128, cosine decay, 3 epochs, no augmentation (5-6 minutes on 2 cores, "
              "90% test accuracy on Fashion-MNIST)", {NULL}},
    {"goyal", "the paper's full recipe scaled to 30 epochs: step decay by 10x at epochs 10, 20 and 26.7 "
              "(30/60/80 of 90), gradual warmup over 5 epochs when kn > 256, zero-gamma, wd 1e-4 on weights only, "
              "random crops and flips (93.3% on Fashion-MNIST at kn 256; with --decay cosine 93.7-94.0% over two seeds)",
     {"decay", "step", "epochs", "30", "milestones", "", "warmup", "gradual", "crop-pad", "-1", "flip", "1", NULL}},
};

int cli_preset(bb_config *cfg, const char *name)
{
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(presets[i].name, name) != 0) continue;
        for (int j = 0; presets[i].kv[j]; j += 2)
            if (bb_config_set(cfg, presets[i].kv[j], presets[i].kv[j + 1]) != BB_OK) return 2;
        return 0;
    }
    char known[256] = "";
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), " %s", presets[i].name);
    return cli_refuse("", "--preset: unknown preset '%s' (known:%s)", name, known);
}

void cli_print_flags(FILE *f)
{
    fprintf(f, "flags (--name value or --name=value; booleans also bare):\n");
    fprintf(f, "  %-22s %s\n", "--preset NAME", "apply a preset first:");
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        fprintf(f, "  %-22s   %s: %s\n", "", presets[i].name, presets[i].help);
    for (int i = 0; i < bb_config_nfields; i++) {
        const bb_config_field *fd = &bb_config_fields[i];
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", fd->name);
        fprintf(f, "  %-22s %s", flag, fd->help);
        if (fd->type == BB_CF_CHOICE) {
            char names[256];
            bb_config_choices(fd, names, sizeof names);
            fprintf(f, " [%s]", names);
        }
        if (fd->def[0]) fprintf(f, " (default %s)", fd->def);
        fputc('\n', f);
    }
}

int cli_parse(const char *cmd, int argc, char **argv, bb_config *cfg, const char *const *extra,
              const char **extra_vals, unsigned char *seen)
{
    /* presets first, wherever they appear, so explicit flags win */
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--preset")) v = i + 1 < argc ? argv[i + 1] : "";
        else if (!strncmp(argv[i], "--preset=", 9)) v = argv[i] + 9;
        if (v && cli_preset(cfg, v) != 0) return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            return cli_refuse(cmd, "unexpected argument '%s' (flags start with --)", arg);
        }
        char name[64];
        const char *value = NULL;
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, arg + 2, len);
        name[len] = 0;
        if (eq) value = eq + 1;
        if (!strcmp(name, "preset")) { if (!eq) i++; continue; }
        int ex = -1;
        for (int j = 0; extra && extra[j]; j++)
            if (!strcmp(extra[j], name)) ex = j;
        const bb_config_field *fd = ex < 0 ? bb_config_find(name) : NULL;
        if (ex < 0 && !fd) {
            return cli_refuse(cmd, "unknown flag --%s (see bigbatch %s --help)", name, cmd);
        }
        if (!value) {
            int next_is_value = i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0;
            if (fd && fd->type == BB_CF_BOOL && !next_is_value) value = "1";
            else if (i + 1 < argc) value = argv[++i];
            else return cli_refuse(cmd, "--%s needs a value", name);
        }
        if (ex >= 0) { extra_vals[ex] = value; continue; }
        if (bb_config_set(cfg, name, value) != BB_OK) return cli_refuse(cmd, "%s", bb_last_error());
        if (seen) seen[fd - bb_config_fields] = 1;
    }
    return 0;
}

int cli_lead(void)
{
    return bb_hooks_get()->launcher_rank <= 0;
}

int cli_refuse(const char *cmd, const char *fmt, ...)
{
    if (!cli_lead()) return 2;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "bigbatch%s%s: %s\n", cmd[0] ? " " : "", cmd, msg);
    return 2;
}

static void on_signal(int signo) { bb_trainer_request_stop(signo); }

void cli_stop_on_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;  /* a second signal ends the process at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void list_commands(FILE *f, const char *prog, const char *what, const cli_command *cmds, size_t n)
{
    char upper[32];
    size_t i = 0;
    for (; what[i] && i + 1 < sizeof upper; i++) upper[i] = (char)toupper((unsigned char)what[i]);
    upper[i] = 0;
    fprintf(f, "usage: %s %s [flags]   (%s %s --help for its flags)\n\n%ss:\n", prog, upper, prog, upper, what);
    for (i = 0; i < n; i++) fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].help);
}

int cli_dispatch(const char *prog, const char *what, const cli_command *cmds, size_t n, int argc, char **argv)
{
    if (argc < 2) { list_commands(stderr, prog, what, cmds, n); return 2; }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        list_commands(stdout, prog, what, cmds, n);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "%s: unknown %s '%s'\n", prog, what, argv[1]);
    list_commands(stderr, prog, what, cmds, n);
    return 2;
}
