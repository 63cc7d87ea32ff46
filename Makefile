# `sam build` runs `make build-<LogicalId>` here for each function (BuildMethod: makefile, in
# the source tree: `build_in_source` in samconfig.toml). The script builds the function with
# every function of the same dependencies in one cargo invocation; see docs/deploy.md.
build-%:
	scripts/build-function.sh "$*" "$(ARTIFACTS_DIR)"
