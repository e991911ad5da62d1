// SPDX-License-Identifier: MIT
/*
 * ferry-wanem's command line. Two passes over argv: the first takes global options,
 * positionals and options for both directions; the second takes the --a2b-X and --b2a-X
 * overrides, so an override wins whatever the order on the line. Then the defaults that
 * depend on other options (the one-BDP queue) are filled in and each direction is checked.
 * Every message names the option as written and what was expected.
 */
#include "netns-tests/wanem/wanem_options.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PROG "ferry-wanem"

enum opt_id {
	OPT_DELAY,
	OPT_JITTER,
	OPT_JITTER_DIST,
	OPT_JITTER_REORDER,
	OPT_LOSS,
	OPT_GE_P,
	OPT_GE_R,
	OPT_GE_LOSS_GOOD,
	OPT_GE_LOSS_BAD,
	OPT_DUP,
	OPT_REORDER,
	OPT_REORDER_DELAY,
	OPT_RATE,
	OPT_QUEUE_BYTES,
	OPT_QUEUE_PACKETS,
	/* global only */
	OPT_SEED,
	OPT_STATS,
	OPT_POOL,
	OPT_FRAME_MAX,
	OPT_RT_PRIORITY,
	OPT_HELP,
};

struct opt {
	const char *name;
	enum opt_id id;
	bool per_dir;	/* may carry an a2b-/b2a- prefix */
	bool has_value; /* takes an argument */
};

static const struct opt opts[] = {
    {"delay", OPT_DELAY, true, true},
    {"jitter", OPT_JITTER, true, true},
    {"jitter-dist", OPT_JITTER_DIST, true, true},
    {"jitter-reorder", OPT_JITTER_REORDER, true, false},
    {"loss", OPT_LOSS, true, true},
    {"ge-p", OPT_GE_P, true, true},
    {"ge-r", OPT_GE_R, true, true},
    {"ge-loss-good", OPT_GE_LOSS_GOOD, true, true},
    {"ge-loss-bad", OPT_GE_LOSS_BAD, true, true},
    {"dup", OPT_DUP, true, true},
    {"reorder", OPT_REORDER, true, true},
    {"reorder-delay", OPT_REORDER_DELAY, true, true},
    {"rate", OPT_RATE, true, true},
    {"queue-bytes", OPT_QUEUE_BYTES, true, true},
    {"queue-packets", OPT_QUEUE_PACKETS, true, true},
    {"seed", OPT_SEED, false, true},
    {"stats", OPT_STATS, false, true},
    {"pool", OPT_POOL, false, true},
    {"frame-max", OPT_FRAME_MAX, false, true},
    {"rt-priority", OPT_RT_PRIORITY, false, true},
    {"help", OPT_HELP, false, false},
};

void ferry_wanem_options_usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: " PROG " [OPTIONS] IFACE-A IFACE-B\n"
	    "\n"
	    "Bridges two interfaces at layer 2 and emulates a WAN path in each direction:\n"
	    "a2b carries what arrives on IFACE-A out of IFACE-B, b2a the reverse. A packet\n"
	    "meets, in order: loss, duplication, the bottleneck (rate and queue), the delay\n"
	    "line (delay, jitter, reordering). Every option below applies to both directions;\n"
	    "--a2b-OPTION and --b2a-OPTION override it for one direction, whatever the order.\n"
	    "Times are milliseconds (decimals allowed), probabilities percent (0 to 100).\n"
	    "\n"
	    "  --delay MS           one-way delay (default 0)\n"
	    "  --jitter MS          jitter: half-width if uniform, sigma if normal (default 0)\n"
	    "  --jitter-dist D      uniform | normal (default uniform; normal is bounded at\n"
	    "                       6 sigma); a delay never goes below 0\n"
	    "  --jitter-reorder     let jitter reorder packets (default: departures are kept\n"
	    "                       in arrival order, which stretches gaps instead)\n"
	    "  --loss PCT           Bernoulli loss (default 0)\n"
	    "  --ge-p PCT           Gilbert-Elliott loss: P(good -> bad) per packet; 0 turns\n"
	    "                       the model off (default 0). Exclusive with --loss\n"
	    "  --ge-r PCT           P(bad -> good) per packet; required, > 0, with --ge-p\n"
	    "  --ge-loss-good PCT   loss in the good state (default 0)\n"
	    "  --ge-loss-bad PCT    loss in the bad state (default 100). Loss rate is\n"
	    "                       (r*good + p*bad) / (p + r); with the defaults, losses\n"
	    "                       come in bursts of mean length 1/r\n"
	    "  --dup PCT            send a packet twice (default 0)\n"
	    "  --reorder PCT        hold a packet back so later ones overtake it (default 0)\n"
	    "  --reorder-delay MS   how long it is held back (default %d)\n"
	    "  --rate BPS           bottleneck rate in bit/s of Ethernet frames (header\n"
	    "                       included, no preamble or FCS); suffixes k, M, G (x1000);\n"
	    "                       0 = unlimited (default)\n"
	    "  --queue-bytes N      drop-tail queue limit in bytes, counting the frame on\n"
	    "                       the wire (default with --rate: one bandwidth-delay product,\n"
	    "                       rate * (a2b delay + b2a delay), at least %d bytes)\n"
	    "  --queue-packets N    queue limit in packets (default none; if given without\n"
	    "                       --queue-bytes, the only limit)\n"
	    "\n"
	    "Global options:\n"
	    "  --seed N             seed of every random decision (default %d); the same seed\n"
	    "                       and the same packets give the same decisions\n"
	    "  --stats FILE         write one line of key=value per direction to FILE at\n"
	    "                       start, on SIGUSR1 and at exit (atomically, by rename)\n"
	    "  --pool N             frame buffers per direction (default %d); must cover\n"
	    "                       rate * delay, or packets are dropped and counted as nobuf\n"
	    "  --frame-max N        largest frame carried, bytes (default %d); must be at\n"
	    "                       least the MTU + 18\n"
	    "  --rt-priority N      run with SCHED_FIFO priority N (1..99), so that other\n"
	    "                       work on the machine does not delay departures (default:\n"
	    "                       normal scheduling)\n"
	    "  --help               this text\n"
	    "\n"
	    "Statistics, per direction, go to stdout on SIGUSR1 and at exit (SIGTERM,\n"
	    "SIGINT), and to the --stats file as\n"
	    "  dir=a2b pkts_in= bytes_in= pkts_out= bytes_out= lost= qdrop= dup= reordered=\n"
	    "  qmax_pkts= qmax_bytes= oversize= nobuf= txerr= txbusy= kdrop= pending=\n"
	    "  late_avg_us= late_max_us= late_1ms=\n"
	    "lost: by the loss model; qdrop: queue full; reordered: held back; qmax_*: the\n"
	    "queue's high-water mark; oversize: super-frames and frames over --frame-max;\n"
	    "nobuf: no buffer free; txerr: the kernel refused to send; txbusy: times the\n"
	    "receiver pushed back (the copies wait, they are not lost); kdrop: dropped by\n"
	    "the kernel before they were read; pending: scheduled, not sent yet; late_*:\n"
	    "how long after their scheduled time copies left, late_1ms: how many left more\n"
	    "than 1 ms late. Always\n"
	    "  pkts_in = oversize + nobuf + lost + qdrop + pkts_out + txerr + pending - dup\n"
	    "\n"
	    "The emulator works on wire frames: turn off TSO and GSO where frames are sent\n"
	    "towards it and GRO on its own interfaces (ethtool -K DEV tso off gso off gro\n"
	    "off); super-frames are dropped and counted as oversize. Checksum offload may\n"
	    "stay on: a checksum still to be filled travels on with its frame.\n",
	    FERRY_WANEM_DEFAULT_REORDER_DELAY, FERRY_WANEM_MIN_QUEUE_BYTES,
	    FERRY_WANEM_DEFAULT_SEED, FERRY_WANEM_DEFAULT_POOL, FERRY_WANEM_DEFAULT_FRAME_MAX);
}

/* Parsing state: what was given for each direction, for the derived defaults. */
struct parse {
	struct ferry_wanem_options *o;
	FILE *err;
	bool queue_given[FERRY_WANEM_DIRS];
	int positionals;
};

static int bad(struct parse *ps, const char *opt, const char *expected, const char *got)
{
	fprintf(ps->err, PROG ": --%s: expected %s, got '%s'\n", opt, expected, got);
	return -EINVAL;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL; /* strtoull would take a sign or blanks */
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

/* Milliseconds with decimals, up to 1000 s, to nanoseconds. */
static int parse_ms(const char *s, uint64_t *ns)
{
	double ms;

	if (parse_double(s, 0.0, 1e6, &ms))
		return -EINVAL;
	*ns = (uint64_t)llround(ms * 1e6);
	return 0;
}

static int parse_pct(const char *s, double *fraction)
{
	double pct;

	if (parse_double(s, 0.0, 100.0, &pct))
		return -EINVAL;
	*fraction = pct / 100.0;
	return 0;
}

/* Bits per second with an optional k, M or G (powers of 1000); 0 or 1000 to 10^12. */
static int parse_rate(const char *s, uint64_t *bps)
{
	char num[64], *end;
	size_t n = strlen(s);
	double v, mult = 1.0;

	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'k':
	case 'K':
		mult = 1e3;
		break;
	case 'm':
	case 'M':
		mult = 1e6;
		break;
	case 'g':
	case 'G':
		mult = 1e9;
		break;
	default:
		break;
	}
	if (mult > 1.0)
		num[n - 1] = '\0';
	errno = 0;
	v = strtod(num, &end);
	if (errno || end == num || *end || !isfinite(v) || v < 0.0)
		return -EINVAL;
	v = round(v * mult);
	if (v != 0.0 && (v < 1e3 || v > 1e12))
		return -EINVAL;
	*bps = (uint64_t)v;
	return 0;
}

static const struct opt *opt_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (strlen(opts[i].name) == len && !memcmp(opts[i].name, name, len))
			return &opts[i];
	return NULL;
}

/* Applies a per-direction option to one direction's config. */
static int apply_dir(struct parse *ps, int dir, const struct opt *op, const char *shown,
		     const char *val)
{
	struct ferry_wanem_path_config *c = &ps->o->path[dir];
	uint64_t u;

	switch (op->id) {
	case OPT_DELAY:
		return parse_ms(val, &c->delay_ns) ? bad(ps, shown, "milliseconds", val) : 0;
	case OPT_JITTER:
		return parse_ms(val, &c->jitter_ns) ? bad(ps, shown, "milliseconds", val) : 0;
	case OPT_REORDER_DELAY:
		return parse_ms(val, &c->reorder_delay_ns) ? bad(ps, shown, "milliseconds", val)
							   : 0;
	case OPT_JITTER_DIST:
		if (!strcmp(val, "uniform"))
			c->jitter_dist = FERRY_WANEM_JITTER_UNIFORM;
		else if (!strcmp(val, "normal"))
			c->jitter_dist = FERRY_WANEM_JITTER_NORMAL;
		else
			return bad(ps, shown, "'uniform' or 'normal'", val);
		return 0;
	case OPT_JITTER_REORDER:
		c->jitter_reorder = true;
		return 0;
	case OPT_LOSS:
		return parse_pct(val, &c->loss) ? bad(ps, shown, "a percentage 0..100", val) : 0;
	case OPT_GE_P:
		return parse_pct(val, &c->ge_p) ? bad(ps, shown, "a percentage 0..100", val) : 0;
	case OPT_GE_R:
		return parse_pct(val, &c->ge_r) ? bad(ps, shown, "a percentage 0..100", val) : 0;
	case OPT_GE_LOSS_GOOD:
		return parse_pct(val, &c->ge_loss_good) ? bad(ps, shown, "a percentage 0..100", val)
							: 0;
	case OPT_GE_LOSS_BAD:
		return parse_pct(val, &c->ge_loss_bad) ? bad(ps, shown, "a percentage 0..100", val)
						       : 0;
	case OPT_DUP:
		return parse_pct(val, &c->dup) ? bad(ps, shown, "a percentage 0..100", val) : 0;
	case OPT_REORDER:
		return parse_pct(val, &c->reorder) ? bad(ps, shown, "a percentage 0..100", val) : 0;
	case OPT_RATE:
		return parse_rate(val, &c->rate_bps)
			   ? bad(ps, shown, "0 or 1k..1000G bit/s (suffix k, M or G)", val)
			   : 0;
	case OPT_QUEUE_BYTES:
		if (parse_u64(val, 1, UINT64_MAX, &c->queue_bytes))
			return bad(ps, shown, "a positive number of bytes", val);
		ps->queue_given[dir] = true;
		return 0;
	case OPT_QUEUE_PACKETS:
		if (parse_u64(val, 1, UINT32_MAX, &u))
			return bad(ps, shown, "a positive number of packets", val);
		c->queue_pkts = (uint32_t)u;
		ps->queue_given[dir] = true;
		return 0;
	default:
		return -EINVAL; /* not a per-direction option: opt_find's table says so */
	}
}

static int apply_global(struct parse *ps, const struct opt *op, const char *val)
{
	struct ferry_wanem_options *o = ps->o;
	uint64_t u;

	switch (op->id) {
	case OPT_SEED:
		return parse_u64(val, 0, UINT64_MAX, &o->seed)
			   ? bad(ps, op->name, "an unsigned integer", val)
			   : 0;
	case OPT_STATS:
		o->stats_path = val;
		return 0;
	case OPT_POOL:
		if (parse_u64(val, 16, 1u << 22, &u))
			return bad(ps, op->name, "16..4194304 frames", val);
		o->pool = (uint32_t)u;
		return 0;
	case OPT_FRAME_MAX:
		if (parse_u64(val, 64, 65536, &u))
			return bad(ps, op->name, "64..65536 bytes", val);
		o->frame_max = (uint32_t)u;
		return 0;
	case OPT_RT_PRIORITY:
		if (parse_u64(val, 1, 99, &u))
			return bad(ps, op->name, "a priority 1..99", val);
		o->rt_priority = (int)u;
		return 0;
	case OPT_HELP:
		o->help = true;
		return 0;
	default:
		return -EINVAL;
	}
}

/* One pass over argv; pass 0 takes everything but the overrides, pass 1 only those. */
static int parse_pass(struct parse *ps, int pass, int argc, char *const argv[])
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i], *name, *eq, *val = ""; /* "" for flags */
		const struct opt *op;
		int dir = -1, err;
		size_t len;

		if (!strcmp(arg, "-h")) {
			ps->o->help = true;
			continue;
		}
		if (arg[0] != '-') {
			if (pass == 0 && ps->positionals < FERRY_WANEM_DIRS)
				ps->o->ifname[ps->positionals] = arg;
			if (pass == 0)
				ps->positionals++;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
			fprintf(ps->err, PROG ": unknown option '%s' (see --help)\n", arg);
			return -EINVAL;
		}
		name = arg + 2;
		if (!strncmp(name, "a2b-", 4))
			dir = FERRY_WANEM_A2B;
		else if (!strncmp(name, "b2a-", 4))
			dir = FERRY_WANEM_B2A;
		if (dir >= 0)
			name += 4;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		op = opt_find(name, len);
		if (!op || (dir >= 0 && !op->per_dir)) {
			fprintf(ps->err, PROG ": unknown option '%s' (see --help)\n", arg);
			return -EINVAL;
		}
		if (op->has_value) {
			if (eq) {
				val = eq + 1;
			} else if (i + 1 < argc) {
				val = argv[++i];
			} else {
				fprintf(ps->err, PROG ": %s needs a value\n", arg);
				return -EINVAL;
			}
		} else if (eq) {
			fprintf(ps->err, PROG ": %.*s takes no value\n", (int)(eq - arg), arg);
			return -EINVAL;
		}
		if (pass != (dir >= 0))
			continue;
		if (!op->per_dir) {
			err = apply_global(ps, op, val);
		} else if (dir >= 0) {
			err = apply_dir(ps, dir, op, arg + 2, val);
		} else {
			err = apply_dir(ps, FERRY_WANEM_A2B, op, op->name, val);
			if (!err)
				err = apply_dir(ps, FERRY_WANEM_B2A, op, op->name, val);
		}
		if (err)
			return err;
	}
	return 0;
}

static void defaults(struct ferry_wanem_options *o)
{
	int d;

	memset(o, 0, sizeof(*o));
	o->seed = FERRY_WANEM_DEFAULT_SEED;
	o->pool = FERRY_WANEM_DEFAULT_POOL;
	o->frame_max = FERRY_WANEM_DEFAULT_FRAME_MAX;
	for (d = 0; d < FERRY_WANEM_DIRS; d++) {
		o->path[d].ge_loss_bad = 1.0;
		o->path[d].reorder_delay_ns = FERRY_WANEM_DEFAULT_REORDER_DELAY * 1000000ull;
	}
}

static const char *const dir_name[FERRY_WANEM_DIRS] = {"a2b", "b2a"};

/* The derived defaults and the checks that span several options of one direction. */
static int finish(struct parse *ps)
{
	struct ferry_wanem_options *o = ps->o;
	uint64_t rtt_ns = o->path[FERRY_WANEM_A2B].delay_ns + o->path[FERRY_WANEM_B2A].delay_ns;
	int d;

	if (ps->positionals != FERRY_WANEM_DIRS) {
		fprintf(ps->err, PROG ": expected two interfaces, IFACE-A IFACE-B (see --help)\n");
		return -EINVAL;
	}
	for (d = 0; d < FERRY_WANEM_DIRS; d++) {
		struct ferry_wanem_path_config *c = &o->path[d];

		if (c->ge_p > 0.0 && c->loss > 0.0) {
			fprintf(ps->err, PROG ": %s: --loss and --ge-p are exclusive\n",
				dir_name[d]);
			return -EINVAL;
		}
		if (c->ge_p > 0.0 && c->ge_r <= 0.0) {
			fprintf(ps->err, PROG ": %s: --ge-p needs --ge-r greater than 0\n",
				dir_name[d]);
			return -EINVAL;
		}
		if (c->rate_bps && !ps->queue_given[d]) {
			/* in double: rate * rtt reaches 10^12 * 2 * 10^12 */
			uint64_t bdp = (uint64_t)((double)c->rate_bps * (double)rtt_ns / 8e9);

			c->queue_bytes =
			    bdp > FERRY_WANEM_MIN_QUEUE_BYTES ? bdp : FERRY_WANEM_MIN_QUEUE_BYTES;
		}
		if (ferry_wanem_path_config_check(c)) {
			fprintf(ps->err, PROG ": %s: inconsistent options\n", dir_name[d]);
			return -EINVAL;
		}
	}
	return 0;
}

int ferry_wanem_options_parse(struct ferry_wanem_options *o, int argc, char *const argv[],
			      FILE *err)
{
	struct parse ps = {.o = o, .err = err};
	int rc;

	defaults(o);
	rc = parse_pass(&ps, 0, argc, argv);
	if (rc || o->help)
		return rc;
	rc = parse_pass(&ps, 1, argc, argv);
	if (rc)
		return rc;
	return finish(&ps);
}
