// `ringway config push|diff` (config_cli.cc).
#pragma once

namespace ringway {

// argv[1] is "config". Pushes the shared objects of a file to etcd, or lists how they differ
// from what etcd holds. Returns the exit status (docs/configuration.md, "config push").
int run_config(int argc, char** argv);

}  // namespace ringway
