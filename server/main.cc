// realtime-emulator (placeholder until issue 3 lands).
#include <cstdio>
int main() {
  std::puts("realtime-emulator: not implemented yet");
  return 1;
}
