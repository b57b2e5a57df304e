// Driver for the fuzz targets when they are built without libFuzzer (the normal g++ build, so
// that CI runs them): feeds every file of the corpus directories given on the command line, then
// a bounded number of deterministic mutations of them (byte flips, insertions, truncations,
// splices). Exit 0 when every input passed (a failing input aborts, as under libFuzzer).
//   replay_fuzz_x CORPUS_DIR... [-runs=N]
#include <dirent.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void run(const std::string &s) { LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(s.data()), s.size()); }

int main(int argc, char **argv) {
  long runs = 20000;
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "-runs=", 6) == 0) {
      runs = atol(argv[i] + 6);
      continue;
    }
    DIR *d = opendir(argv[i]);
    if (!d) {
      fprintf(stderr, "cannot open corpus %s\n", argv[i]);
      return 2;
    }
    while (dirent *e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream f(std::string(argv[i]) + "/" + e->d_name, std::ios::binary);
      std::stringstream ss;
      ss << f.rdbuf();
      corpus.push_back(ss.str());
    }
    closedir(d);
  }
  if (corpus.empty()) corpus.push_back("{}");
  for (auto &c : corpus) run(c);
  std::mt19937_64 rng(12345);
  static const char *const tokens[] = {"\"", "\\", "{", "}", "[", "]", ":", ",", "null", "true", "1e308", "-1",
                                       "9223372036854775807", "\\u0000", "\xff", "\xc3\x28", "=", "/", "%", "?", "&"};
  for (long r = 0; r < runs; r++) {
    std::string s = corpus[rng() % corpus.size()];
    int n = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < n; k++) {
      size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
      switch (rng() % 5) {
        case 0: if (!s.empty() && pos < s.size()) s[pos] = static_cast<char>(rng()); break;
        case 1: s.insert(pos, tokens[rng() % (sizeof tokens / sizeof *tokens)]); break;
        case 2: s.resize(pos); break;
        case 3: if (pos < s.size()) s.erase(pos, 1 + rng() % 8); break;
        case 4: { const std::string &o = corpus[rng() % corpus.size()]; s.insert(pos, o.substr(rng() % (o.size() + 1), 16)); } break;
      }
    }
    run(s);
  }
  printf("%zu corpus inputs + %ld mutations: ok\n", corpus.size(), runs);
  return 0;
}
