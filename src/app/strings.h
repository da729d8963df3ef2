// strings.h: the interface's words in English and Chinese (zh-CN). One table (strings.cpp), keyed
// by the English text as the code writes it: T("Where it looks") is that text in the page's
// language, the English itself when the language is English or the table has no row for it (a
// name from a weight file, an ImageNet class). Texts the core sends (method and tool labels, what a
// model knows, Fashion-MNIST class names) go through T() too, by the same English key.
// The Chinese glyphs: scripts/subset_font.py collects every non-ASCII character of this table and
// of web/lesson.js at build time and subsets a Debian CJK font to them (build/site/fonts/).
#pragma once
#include <string>

const char* T(const char* en);
// The same lookup in a given language (zh: the Chinese row, else the English): web/app.js asks the
// table for the words it builds itself (messages, the screen readers' summary) through ui_tr.
const char* T_in(const char* en, bool zh);
inline const char* T(const std::string& en) { return T(en.c_str()); }
// "en" or "zh" (ui_set_lang in main.cpp switches it, with the font)
const std::string& ui_lang();
void set_ui_lang(const std::string& lang);
bool ui_zh();
