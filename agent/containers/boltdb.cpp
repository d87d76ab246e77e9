// The bbolt file format as go.etcd.io/bbolt writes it (page.go, db.go, bucket.go):
// fixed-size pages; pages 0 and 1 hold the two meta pages, written alternately, the
// newest valid one naming the root bucket of the last transaction committed; a bucket
// is a B+tree of branch and leaf pages, or, when small, a leaf page kept inline in its
// parent's value. Structures are stored as they are in memory, in the byte order of the
// host that wrote them, which is how they are read here.
#include "containers/boltdb.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "util/errno_text.h"
#include "util/fd.h"

namespace palisade {

namespace {

constexpr uint32_t kMagic = 0xED0CDAED;
constexpr uint32_t kVersion = 2;

// Page header: id u64, flags u16, count u16, overflow u32 (pages that follow this one).
constexpr uint64_t kPageHeaderBytes = 16;
constexpr uint16_t kBranchPage = 0x01;
constexpr uint16_t kLeafPage = 0x02;
constexpr uint16_t kMetaPage = 0x04;

// Elements follow the header, 16 bytes each; pos is the offset of the key from the
// element itself, the value follows the key.
//   branch: pos u32, ksize u32, child page id u64
//   leaf:   flags u32, pos u32, ksize u32, vsize u32
constexpr uint64_t kElementBytes = 16;
constexpr uint32_t kBucketElement = 0x01;  // a leaf element whose value is a bucket

// A bucket's value: its root page id u64 (0: the bucket is inline, a leaf page follows
// the header in the value itself), sequence u64.
constexpr uint64_t kBucketHeaderBytes = 16;

// Meta (after the page header): magic u32, version u32, pageSize u32, flags u32, root
// bucket (16 bytes), freelist page u64, pages in use u64, txid u64, then the FNV-1a
// checksum u64 of the 56 bytes before it.
constexpr uint64_t kMetaBytes = 64;
constexpr uint64_t kMetaChecksummedBytes = 56;

// Podman's database holds a few pages per container; a file this big is not one.
constexpr uint64_t kMaxFileBytes = uint64_t{1} << 30;
// A page with its overflow; a value that needs more is over metadata.cpp's 4 MiB too.
constexpr uint64_t kMaxPageBytes = 4 * 1024 * 1024;
// bbolt trees are a few levels deep; podman's lookups cross 3 buckets.
constexpr size_t kMaxPagesPerLookup = 64;
constexpr int kAttempts = 3;

// The file is not a sound bbolt file, or changed while it was read.
struct Unsound : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The caller has checked that the bytes are there.
template <typename T>
T load(std::string_view bytes, uint64_t at) {
    T value;
    std::memcpy(&value, bytes.data() + at, sizeof value);
    return value;
}

uint64_t fnv1a(std::string_view bytes) {
    uint64_t hash = 0xcbf29ce484222325;
    for (unsigned char c : bytes) {
        hash ^= c;
        hash *= 0x100000001b3;
    }
    return hash;
}

std::string hex(uint64_t value) {
    char text[19];
    std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
    return text;
}

// bytes [at, at + length) of `page`, which `where` names in errors.
std::string_view slice(std::string_view page, uint64_t at, uint64_t length,
                       const std::string& where) {
    if (at > page.size() || length > page.size() - at) {
        throw Unsound(where + ": an element points outside the page");
    }
    return page.substr(at, length);
}

// The number of elements of `page`, once they are known to fit in it.
uint16_t elementCount(std::string_view page, const std::string& where) {
    const uint16_t count = load<uint16_t>(page, 10);
    if (kPageHeaderBytes + uint64_t{count} * kElementBytes > page.size()) {
        throw Unsound(where + ": " + std::to_string(count) + " elements do not fit in it");
    }
    return count;
}

struct Meta {
    uint64_t pageSize = 0;
    uint64_t root = 0;   // the root bucket's root page
    uint64_t pages = 0;  // pages in use: every page id is below
    uint64_t txid = 0;
};

struct Bucket {
    uint64_t root = 0;       // 0: inline
    std::string inlinePage;  // the leaf page of an inline bucket
    std::string name;
};

struct Element {
    uint32_t flags = 0;
    std::string value;
};

class BoltFile {
  public:
    explicit BoltFile(const std::string& path) {
        // O_NONBLOCK: a FIFO in the file's place must not block the open.
        fd_.reset(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
        if (!fd_) throw std::runtime_error(errnoText(errno));
        struct stat st {};
        if (fstat(fd_.get(), &st) != 0) throw std::runtime_error(errnoText(errno));
        if (!S_ISREG(st.st_mode)) throw std::runtime_error("not a regular file");
        if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes) {
            throw std::runtime_error("over 1 GiB");
        }
    }

    // The newest valid meta page, the one bbolt opens the file with.
    Meta newestMeta() {
        std::string why0, why1;
        const std::optional<Meta> meta0 = readMeta(0, 0, why0);
        // bbolt's own fallback when page 0 is unreadable: the page size it was made with
        // is the system's.
        const uint64_t pageSize =
            meta0 ? meta0->pageSize : static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
        const std::optional<Meta> meta1 = readMeta(1, pageSize, why1);
        if (!meta0 && !meta1) {
            throw Unsound("not a bbolt database (meta page 0: " + why0 + "; meta page 1: " + why1 +
                          ")");
        }
        const Meta& newest = !meta1 || (meta0 && meta0->txid > meta1->txid) ? *meta0 : *meta1;
        // The size after the meta pages: bbolt grows the file before it writes a meta page
        // that uses the new pages.
        if (newest.pages > fileSize() / newest.pageSize) {
            throw Unsound("truncated: transaction " + std::to_string(newest.txid) + " uses " +
                          std::to_string(newest.pages) + " pages of " +
                          std::to_string(newest.pageSize) + " bytes, the file holds " +
                          std::to_string(fileSize()) + " bytes");
        }
        if (newest.root < 2 || newest.root >= newest.pages) {
            throw Unsound("transaction " + std::to_string(newest.txid) + ": root page " +
                          std::to_string(newest.root) + " out of range");
        }
        return newest;
    }

    std::optional<std::string> lookup(const Meta& meta, const std::vector<std::string>& buckets,
                                      const std::string& key) {
        meta_ = meta;
        visited_.clear();
        Bucket bucket;
        bucket.root = meta.root;
        for (const std::string& name : buckets) {
            std::optional<Element> element = find(bucket, name);
            if (!element || !(element->flags & kBucketElement)) return std::nullopt;
            bucket = bucketIn(element->value, name);
        }
        std::optional<Element> element = find(bucket, key);
        if (!element || (element->flags & kBucketElement)) return std::nullopt;
        return std::move(element->value);
    }

  private:
    uint64_t fileSize() const {
        struct stat st {};
        if (fstat(fd_.get(), &st) != 0) throw std::runtime_error(errnoText(errno));
        return static_cast<uint64_t>(st.st_size);
    }

    // `length` bytes at `offset`; the file ending before them is Unsound (it shrank).
    std::string readAt(uint64_t offset, uint64_t length) const {
        std::string bytes(length, '\0');
        uint64_t done = 0;
        while (done < length) {
            const ssize_t n = pread(fd_.get(), bytes.data() + done, length - done,
                                    static_cast<off_t>(offset + done));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw std::runtime_error(errnoText(errno));
            if (n == 0) throw Unsound("the file ends at byte " + std::to_string(offset + done));
            done += static_cast<uint64_t>(n);
        }
        return bytes;
    }

    std::optional<Meta> readMeta(uint64_t id, uint64_t offset, std::string& why) const {
        if (offset + kPageHeaderBytes + kMetaBytes > fileSize()) {
            why = "the file ends before it";
            return std::nullopt;
        }
        const std::string page = readAt(offset, kPageHeaderBytes + kMetaBytes);
        const std::string_view meta = std::string_view(page).substr(kPageHeaderBytes);
        Meta m;
        m.pageSize = load<uint32_t>(meta, 8);
        m.root = load<uint64_t>(meta, 16);
        m.pages = load<uint64_t>(meta, 40);
        m.txid = load<uint64_t>(meta, 48);
        if (load<uint16_t>(page, 8) != kMetaPage || load<uint64_t>(page, 0) != id) {
            why = "not a meta page";
        } else if (load<uint32_t>(meta, 0) != kMagic) {
            why = "no bbolt magic number";
        } else if (load<uint32_t>(meta, 4) != kVersion) {
            why = "format version " + std::to_string(load<uint32_t>(meta, 4)) + ", not 2";
        } else if (load<uint64_t>(meta, kMetaChecksummedBytes) !=
                   fnv1a(meta.substr(0, kMetaChecksummedBytes))) {
            why = "checksum mismatch";
        } else if (m.pageSize < 512 || m.pageSize > 65536 || (m.pageSize & (m.pageSize - 1))) {
            why = "page size " + std::to_string(m.pageSize);
        } else if (id == 1 && m.pageSize != offset) {
            why = "page size " + std::to_string(m.pageSize) + ", but found at byte " +
                  std::to_string(offset);
        } else {
            return m;
        }
        return std::nullopt;
    }

    // Page `id` with its overflow pages.
    std::string readPage(uint64_t id) {
        const std::string where = "page " + std::to_string(id);
        if (std::find(visited_.begin(), visited_.end(), id) != visited_.end()) {
            throw Unsound(where + " is reached twice (a cycle)");
        }
        if (visited_.size() == kMaxPagesPerLookup) {
            throw Unsound("a lookup reaches over " + std::to_string(kMaxPagesPerLookup) + " pages");
        }
        visited_.push_back(id);
        if (id < 2 || id >= meta_.pages) {
            throw Unsound(where + " is out of range (2 to " + std::to_string(meta_.pages - 1) +
                          ")");
        }
        const std::string header = readAt(id * meta_.pageSize, kPageHeaderBytes);
        if (load<uint64_t>(header, 0) != id) {
            throw Unsound(where + " says it is page " + std::to_string(load<uint64_t>(header, 0)));
        }
        const uint64_t overflow = load<uint32_t>(header, 12);
        if (overflow >= meta_.pages - id) {
            throw Unsound(where + " runs past the last page (" + std::to_string(overflow) +
                          " overflow pages)");
        }
        if ((overflow + 1) * meta_.pageSize > kMaxPageBytes) {
            throw Unsound(where + " spans over 4 MiB");
        }
        return readAt(id * meta_.pageSize, (overflow + 1) * meta_.pageSize);
    }

    // The element of `bucket` whose key is `key`, if any.
    std::optional<Element> find(const Bucket& bucket, std::string_view key) {
        std::string storage;
        std::string_view page;
        std::string where;
        if (bucket.root == 0) {
            page = bucket.inlinePage;
            where = "the inline bucket " + bucket.name;
            if (load<uint16_t>(page, 8) != kLeafPage) throw Unsound(where + ": not a leaf page");
        } else {
            for (uint64_t id = bucket.root;;) {
                storage = readPage(id);
                page = storage;
                where = "page " + std::to_string(id);
                const uint16_t flags = load<uint16_t>(page, 8);
                if (flags == kLeafPage) break;
                if (flags != kBranchPage) {
                    throw Unsound(where + ": neither a branch nor a leaf page (flags " +
                                  hex(flags) + ")");
                }
                id = child(page, where, key);
            }
        }
        const uint16_t count = elementCount(page, where);
        for (uint64_t i = 0; i < count; ++i) {
            const uint64_t at = kPageHeaderBytes + i * kElementBytes;
            const uint64_t keyAt = at + load<uint32_t>(page, at + 4);
            const uint32_t keySize = load<uint32_t>(page, at + 8);
            if (slice(page, keyAt, keySize, where) != key) continue;
            const std::string_view value =
                slice(page, keyAt + keySize, load<uint32_t>(page, at + 12), where);
            return Element{load<uint32_t>(page, at), std::string(value)};
        }
        return std::nullopt;
    }

    // The child of branch `page` whose keys `key` falls among: the last one whose first key
    // is not after it (bbolt's cursor.search).
    static uint64_t child(std::string_view page, const std::string& where, std::string_view key) {
        const uint16_t count = elementCount(page, where);
        if (count == 0) throw Unsound(where + ": an empty branch page");
        uint64_t chosen = 0;
        for (uint64_t i = 0; i < count; ++i) {
            const uint64_t at = kPageHeaderBytes + i * kElementBytes;
            const std::string_view first =
                slice(page, at + load<uint32_t>(page, at), load<uint32_t>(page, at + 4), where);
            if (i > 0 && first > key) break;
            chosen = load<uint64_t>(page, at + 8);
        }
        return chosen;
    }

    static Bucket bucketIn(const std::string& value, const std::string& name) {
        if (value.size() < kBucketHeaderBytes) {
            throw Unsound("bucket " + name + ": a value of " + std::to_string(value.size()) +
                          " bytes");
        }
        Bucket bucket;
        bucket.name = name;
        bucket.root = load<uint64_t>(value, 0);
        if (bucket.root == 0) {
            bucket.inlinePage = value.substr(kBucketHeaderBytes);
            if (bucket.inlinePage.size() < kPageHeaderBytes) {
                throw Unsound("the inline bucket " + name + ": shorter than a page header");
            }
        }
        return bucket;
    }

    Fd fd_;
    Meta meta_;
    std::vector<uint64_t> visited_;
};

}  // namespace

std::vector<std::optional<std::string>> readBoltValues(const std::string& path,
                                                       const std::vector<std::string>& buckets,
                                                       const std::vector<std::string>& keys) {
    try {
        BoltFile file(path);
        for (int attempt = 1;; ++attempt) {
            const Meta meta = file.newestMeta();
            std::vector<std::optional<std::string>> values;
            std::optional<Unsound> unsound;
            try {
                for (const std::string& key : keys) {
                    values.push_back(file.lookup(meta, buckets, key));
                }
            } catch (const Unsound& e) {
                unsound = e;
            }
            // No commit since: what was read is what that transaction left.
            if (file.newestMeta().txid == meta.txid) {
                if (unsound) throw *unsound;
                return values;
            }
            if (attempt == kAttempts) {
                throw Unsound("changed while it was read, " + std::to_string(kAttempts) +
                              " times in a row");
            }
        }
    } catch (const std::runtime_error& e) {
        throw std::runtime_error(path + ": " + e.what());
    }
}

std::optional<std::string> readBoltValue(const std::string& path,
                                         const std::vector<std::string>& buckets,
                                         const std::string& key) {
    return readBoltValues(path, buckets, {key}).front();
}

}  // namespace palisade
