// strings.cpp: the interface's one string table, English and Chinese (zh-CN), keyed by the English
// text (strings.h). A row's Chinese keeps the English's printf conversions, in the same order
// (scripts/subset_font.py checks it at build time, with the table's other rules). Class names of
// ImageNet stay English (no rows); Fashion-MNIST's ten are here.
#include "strings.h"

#include <string>
#include <unordered_map>

namespace {

struct Row {
    const char *en, *zh;
};

// clang-format off
const Row kStrings[] = {
// STRINGS-BEGIN (scripts/subset_font.py reads from here to STRINGS-END)
{"Fashion-MNIST", "Fashion-MNIST"},
// STRINGS-END
};
// clang-format on

std::string g_lang = "en";

}  // namespace

const char* T(const char* en) {
    if (g_lang != "zh" || !en) return en;
    static const std::unordered_map<std::string, const char*> table = [] {
        std::unordered_map<std::string, const char*> m;
        for (const Row& r : kStrings) m.emplace(r.en, r.zh);
        return m;
    }();
    const auto it = table.find(en);
    return it == table.end() ? en : it->second;
}

const std::string& ui_lang() { return g_lang; }
void set_ui_lang(const std::string& lang) { g_lang = lang; }
bool ui_zh() { return g_lang == "zh"; }
