// format.js: printf-style formatting for the words web/app.js and web/worker.js build at run time.
// The words themselves are the UI's one string table (src/app/strings.cpp), keyed by the English
// text: app.js asks the UI module for a key's Chinese (ui_tr) and formats it here with the same
// arguments; the worker says its messages as [key, ...arguments] and formats the English here.
// An argument that is an array is a nested [key, ...arguments], formatted with sub() (the page
// passes its translating lookup; by default it is formatted as it is, in English).
// Conversions: %s %d %i %f %g %x %%, with flags, width and precision (%.0s prints nothing: a Chinese
// row swallows an English plural's s that way).
'use strict';
function cnnlensFormat(fmt, args, sub) {
  const nested = sub || ((a) => cnnlensFormat(a[0], a.slice(1)));
  let i = 0;
  return String(fmt).replace(/%([-+ #0]*)(\d*)(?:\.(\d+))?([sdifgx%])/g, (m, flags, width, prec, c) => {
    if (c === '%') return '%';
    let v = args[i++];
    if (Array.isArray(v)) v = nested(v);
    let s;
    if (c === 's') s = prec != null ? String(v == null ? '' : v).slice(0, +prec) : String(v == null ? '' : v);
    else if (c === 'd' || c === 'i') s = String(Math.trunc(+v));
    else if (c === 'x') s = (Math.trunc(+v) >>> 0).toString(16);
    else if (c === 'f') s = (+v).toFixed(prec == null ? 6 : +prec);
    else s = String(+(+v).toPrecision(prec == null ? 6 : Math.max(1, +prec)));
    if (flags.includes('+') && c !== 's' && +v >= 0) s = '+' + s;
    const w = +width || 0;
    if (s.length < w) s = flags.includes('-') ? s.padEnd(w) : s.padStart(w, flags.includes('0') && c !== 's' ? '0' : ' ');
    return s;
  });
}
self.cnnlensFormat = cnnlensFormat;
