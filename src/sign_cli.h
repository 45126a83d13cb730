// `ringway sign` (sign_cli.cc).
#pragma once

namespace ringway {

// argv[1] is "sign". Prints the App authentication headers for the request; exit status.
int run_sign(int argc, char** argv);

}  // namespace ringway
