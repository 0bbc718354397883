/*
 * config: barged's settings, from /etc/barge/barged.yaml (DESIGN §11) and
 * then from command-line flags, which win.
 *
 * Every key has a default that works unconfigured, so an absent file is
 * the defaults.  The file is YAML (common/yjson.h); unknown keys, wrong
 * types and bad values are errors naming file:line:col, with a suggestion
 * for a misspelt key.  Keys are named by their dotted path ("auth.
 * anonymous_pull"); config_set takes that name and a string value, which
 * is how flags override keys.  docs/configuration.md lists every key.
 *
 * struct config owns every string and list in it; config_free releases
 * them.  It is filled once at start-up and read-only afterwards.
 */
#ifndef BARGE_CONFIG_H
#define BARGE_CONFIG_H

#include <stddef.h>

#include "err.h"

/* The defaults every verb and writer shares: one place to change them. */
#define CONFIG_DEFAULT_PATH     "/etc/barge/barged.yaml"
#define CONFIG_DEFAULT_DATA_DIR "/var/lib/barge"  /* data_dir */
#define CONFIG_DEFAULT_KEYS_DIR "/etc/barge/keys" /* load.keys_dir */

#define CONFIG_FILE_MAX (1024 * 1024) /* largest configuration file read */
#define CONFIG_LIST_MAX 256           /* most entries in one list */

struct config_list {
	char **v;
	size_t n;
};

enum config_policy { CONFIG_POLICY_PRESENT, CONFIG_POLICY_ALWAYS };
/* A rule's policy: what webhook.policy says (no policy key), or its own. */
enum config_rule_policy {
	CONFIG_RULE_INHERIT,
	CONFIG_RULE_PRESENT,
	CONFIG_RULE_ALWAYS,
	CONFIG_RULE_NEVER
};

#define CONFIG_RULES_MAX      256  /* most webhook.rules */
#define CONFIG_RULE_EXPRS_MAX 32   /* most match (or exclude) expressions of one rule */
#define CONFIG_RULE_EXPR_MAX  1024 /* longest expression, in bytes */

/*
 * One POSIX extended regular expression of a rule, with where the file
 * wrote it, so that a later check (swaprule.h) names the same place.
 */
struct config_expr {
	char *re;
	int line, col;
};

/*
 * One entry of webhook.rules (docs/swap.md).  The expressions are checked
 * (regcomp) when the file is read; replace NULL means barged's own layout.
 */
struct config_rule {
	char *name;                /* name, or NULL */
	struct config_expr *match; /* match: at least one */
	size_t nmatch;
	struct config_expr *exclude; /* exclude */
	size_t nexclude;
	char *replace;                  /* replace: the prefix for the matched part, or NULL */
	enum config_rule_policy policy; /* policy */
	int line, col;                  /* the rule's place in the file */
};
/*
 * One entry of proxy.upstreams: the registry a pull-through cache stands in
 * for (docs/proxy.md), with at most one kind of credentials.
 */
struct config_upstream {
	char *registry;      /* registry: the name it stands for ("docker.io", "host:port") */
	char *url;           /* url: where it is reached ("https://registry-1.docker.io") */
	char *ca_file;       /* ca_file: PEM bundle to verify it with; NULL: the system's */
	int insecure;        /* insecure: no TLS verification (tests only) */
	char *docker_config; /* docker_config: a docker config.json (and its helpers) */
	char *username;      /* username, with password_file */
	char *password_file;
	char *exec;    /* exec: a program printing {"username","password","expires_in"} */
	int line, col; /* the entry's place in the file (0 for --proxy) */
};

#define CONFIG_UPSTREAMS_MAX 64

enum config_log_format { CONFIG_LOG_TEXT, CONFIG_LOG_JSON };
enum config_log_level { CONFIG_LOG_DEBUG, CONFIG_LOG_INFO, CONFIG_LOG_WARN, CONFIG_LOG_ERROR };
/* load.tags: a bundle's tag that the store has on another digest. */
enum config_tags { CONFIG_TAGS_MOVE, CONFIG_TAGS_KEEP, CONFIG_TAGS_REFUSE };
/* A setting that is true, false, or decided from others (auto). */
enum config_auto { CONFIG_AUTO, CONFIG_TRUE, CONFIG_FALSE };

struct config {
	char *data_dir;   /* data_dir: the store, TLS files, admin.password (/var/lib/barge) */
	char *listen;     /* listen: ":30003" */
	char *project;    /* project: first segment of mirror repositories ("edge") */
	unsigned threads; /* threads: server threads (16) */
	int plain_http;   /* plain_http: serve HTTP instead of HTTPS (false) */
	struct {
		char *cert; /* tls.cert: PEM certificate chain file; NULL: generated */
		char *key;  /* tls.key: its key file; set together with cert */
		struct config_list names; /* tls.names: extra SANs of a generated certificate */
	} tls;
	struct {
		int anonymous_pull;        /* auth.anonymous_pull (true) */
		char *admin_password_file; /* auth.admin_password_file; NULL: generated */
	} auth;
	struct {
		int allow_delete;     /* registry.allow_delete (false) */
		unsigned max_uploads; /* registry.max_uploads: concurrent uploads (64) */
	} registry;
	struct {
		char *advertise;                       /* webhook.advertise ("127.0.0.1:30003") */
		enum config_policy policy;             /* webhook.policy (present) */
		struct config_list exclude_namespaces; /* webhook.exclude_namespaces */
		struct config_list label_keys;         /* webhook.label_keys */
		/* webhook.rules; NULL (no key): one rule that is today's behaviour */
		struct config_rule *rules;
		size_t nrules;
		int skip_pods_with_pull_secrets; /* webhook.skip_pods_with_pull_secrets (false) */
	} webhook;
	struct {
		int enabled;              /* import.enabled (true) */
		struct config_list watch; /* import.watch; empty: /media, /run/media, /mnt */
		unsigned settle_ms; /* import.settle_ms: unchanged this long, then taken (2000) */
		/* import.require_signature (auto: true when trusted keys are configured) */
		enum config_auto require_signature;
	} import;
	struct {
		int require_signature;           /* load.require_signature (false) */
		char *keys_dir;                  /* load.keys_dir ("/etc/barge/keys") */
		struct config_list trusted_keys; /* load.trusted_keys: more public key files */
		enum config_tags tags;           /* load.tags (move) */
	} load;
	struct {
		char *max_size; /* upload.max_size: "1T", "512G", bytes; NULL: 1 TiB */
	} upload;
	struct {
		struct config_upstream *upstreams; /* proxy.upstreams (and --proxy) */
		size_t nupstreams;
		unsigned revalidate_timeout_ms; /* proxy.revalidate_timeout_ms (2000) */
		unsigned backoff_s; /* proxy.backoff_s: an upstream down stays so (30) */
		char *max_size;     /* proxy.max_size: evict proxied content beyond; NULL: never */
		struct config_list peers; /* proxy.peers: other barged, "http(s)://host:port" */
		char *peer_dns; /* proxy.peer_dns: "name:port", every address a peer (headless) */
		unsigned peer_timeout_ms; /* proxy.peer_timeout_ms (500) */
	} proxy;
	struct {
		enum config_log_format format; /* log.format: text or json (text) */
		enum config_log_level level;   /* log.level (info) */
		char *access; /* log.access: "stdout", "off" or a file ("stdout") */
	} log;
};

/* Fills c with the defaults.  On failure c holds nothing to free. */
int config_init(struct config *c, struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Applies the YAML file at path over c.  A missing file is BARGE_ENOTFOUND
 * (callers decide whether that is fine: it is for the default path).
 */
int config_load_file(struct config *c, const char *path, struct barge_err *err) BARGE_MUST_CHECK;
/* Like config_load_file, from a buffer; name is used in messages. */
int config_load_buf(struct config *c, const char *name, const char *buf, size_t len,
                    struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Sets the key named by its dotted path from text, as a flag does:
 * booleans take true/false/yes/no/1/0, a list takes one entry, appended to
 * what the file gave.  BARGE_EINVAL names the key and suggests one for a
 * misspelt name.
 */
int config_set(struct config *c, const char *key, const char *value,
               struct barge_err *err) BARGE_MUST_CHECK;
/*
 * Adds an upstream from "REGISTRY=URL" (the --proxy flag); a later one for
 * the same registry replaces it.
 */
int config_add_proxy(struct config *c, const char *spec, struct barge_err *err) BARGE_MUST_CHECK;
/* Whether a proxy section (an upstream or a peer) is configured. */
int config_proxy_enabled(const struct config *c);
/* Cross-key checks (tls.cert without tls.key, ...), run after all sources. */
int config_check(const struct config *c, struct barge_err *err) BARGE_MUST_CHECK;
/* Releases everything c owns.  Accepts a zeroed struct. */
void config_free(struct config *c);

#endif
