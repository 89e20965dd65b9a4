# es_store: PGXS build.  See README.md "Contributing" for the test targets.

EXTENSION	= es_store
MODULE_big	= es_store
OBJS		= $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA		= $(sort $(wildcard src/sql/$(EXTENSION)--*.sql))
PG_CPPFLAGS	= -I$(srcdir)/src -I$(libpq_srcdir)
# libpq: the coordinator's connections to its Citus workers (src/remote.c)
SHLIB_LINK_INTERNAL = $(libpq)

REGRESS		= setup append append_paths append_errors idempotency append_aggregates read read_paths feed checkpoint checkpoint_paths monitoring consumer_groups snapshot lifecycle retention forget libraries_x3m libraries_hume libraries_pupsourcing libraries_gleam libraries_asynx dcb transactions security feed_plan upgrade
REGRESS_OPTS	= --load-extension=$(EXTENSION)

ISOLATION	= $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS	= --inputdir=test/isolation --load-extension=$(EXTENSION)

PROVE_TESTS	= $(sort $(wildcard test/t/*.pl))
PGTAP_FLAGS	?=

# Export only what PostgreSQL looks up by name (the SQL-callable functions,
# their info records, _PG_init and the magic block): internal functions
# then bind within the library and cannot interpose on, or be interposed by,
# another library's symbols of the same name (what PostgreSQL 16 does with
# -fvisibility=hidden).
SHLIB_LINK	+= -Wl,--version-script=src/exports.map
EXTRA_CLEAN	= src/exports.map

PG_CONFIG	?= pg_config
PGXS		:= $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(shlib): src/exports.map
src/exports.map: $(sort $(wildcard src/*.c))
	{ echo '{ global: Pg_magic_func; _PG_init;'; \
	  sed -n 's/^PG_FUNCTION_INFO_V1(\(.*\));$$/\1; pg_finfo_\1;/p' $^; \
	  echo 'local: *; };'; } >$@

# test/perl holds the Perl TAP tests' shared module (after PGXS, which sets
# PG_PROVE_FLAGS).
PG_PROVE_FLAGS	+= -I $(srcdir)/test/perl

# make dist: the source tarball $(DIST).tar.gz (PGXN), of the tree as it is
# here, without build products; test/dist.sh builds and tests it on its own.
DIST_VERSION	= $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(srcdir)/$(EXTENSION).control)
DIST		= $(EXTENSION)-$(DIST_VERSION)
DIST_FILES	= .ci .editorconfig .gitignore CHANGELOG.md META.json Makefile README.md \
		  $(EXTENSION).control expected sql src test

.PHONY: pgtap prove_installcheck dist

dist:
	tar -czf $(DIST).tar.gz --transform 's,^,$(DIST)/,' --sort=name \
		--exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude=src/exports.map \
		--exclude=test/bench/out --exclude=node_modules \
		--exclude='__pycache__' $(DIST_FILES)

pgtap:
	pg_prove $(PGTAP_FLAGS) test/pgtap/*.sql

prove_installcheck:
	$(prove_installcheck)
