#include "cli/cli.h"

int main(int argc, char** argv) { return palisade::runCli(argc, argv); }
