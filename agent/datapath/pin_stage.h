// The link pins of one BpfDatapath::attach() run (stateDir/links), put in
// place all or nothing. Part of the datapath; kept apart from the skeleton so
// that its rollback is unit-tested without root (on plain files).
#pragma once

#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace palisade {

// New links are pinned at a staging name beside their final one, while the
// pins of a previous agent stay where they are (their links in force), and
// commit() then renames each staged pin over its final name: rename(2)
// replaces a previous agent's pin in one step, and its link detaches only then,
// after the new one is attached (make-before-break). The pins of programs this
// run has not (a program an earlier build had, another exec mechanism's) go at
// the commit too, so that nothing runs that the agent does not know of.
// Destroyed without
// commit(), the stage removes what it pinned, so that a run that fails
// half-way (its links destroyed by their owners) leaves the pins as they were.
class PinStage {
  public:
    explicit PinStage(std::filesystem::path dir);
    ~PinStage();
    PinStage(const PinStage&) = delete;
    PinStage& operator=(const PinStage&) = delete;

    // Where the link of program `name` is pinned while in force.
    std::filesystem::path finalPath(const std::string& name) const;
    // Pins with `pin` (bpf_link__pin on the path given; 0 or a negative errno)
    // at the staging path of `name` (<dir>/<name>-staged), replacing what a
    // run that crashed may have left there. Throws DatapathError naming it.
    void stage(const std::string& name, const std::function<int(const char* path)>& pin);
    // The pin of `name` stays as it is: its link was updated in place.
    void keep(const std::string& name);
    // Moves every staged pin to its final path, then removes every other pin
    // than those staged or kept. Throws DatapathError; the pins moved before
    // the failure stay in force (their links are attached, and the pins they
    // replaced are gone), the rest are removed, and no other pin is.
    void commit();

  private:
    std::filesystem::path stagingPath(const std::string& name) const;

    std::filesystem::path dir_;
    std::vector<std::string> staged_;  // names, in the order pinned
    std::set<std::string> kept_;
    size_t committed_ = 0;  // staged_[0, committed_) are in their final place
};

}  // namespace palisade
