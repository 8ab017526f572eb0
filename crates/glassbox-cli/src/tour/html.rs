//! The page's fixed parts: the head with its inline style (readable on a phone), and escaping.

/// Text for HTML content or a quoted attribute.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub const PAGE_START: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>glassbox: the tour</title>
<style>
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 64rem;
       padding: 0 1rem 3rem; color: #1d1d1f; background: #fff; }
h1 { margin-top: 1.5rem; } h2 { border-top: 2px solid #ddd; padding-top: 1rem; margin-top: 2.5rem; }
img { max-width: 100%; height: auto; display: block; image-rendering: auto; }
.figures { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; max-width: 100%; min-width: 0; }
figcaption { font-size: .85rem; color: #555; }
.file { font-family: ui-monospace, monospace; color: #888; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, monospace; font-size: .85rem;
            background: #f4f4f6; border-radius: 4px; padding: 0 .25rem; overflow-wrap: anywhere; }
pre { padding: .5rem; overflow-x: auto; white-space: pre-wrap; }
table.metrics { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; display: block;
                overflow-x: auto; }
table.metrics td, table.metrics th { border-bottom: 1px solid #e3e3e3; padding: .2rem .6rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.ok, .skipped, .failed { font-size: .8rem; font-weight: 600; padding: .05rem .4rem; border-radius: 3px; }
.ok { background: #e3f5e1; color: #1b6b13; } .skipped { background: #f3efd9; color: #7a5d00; }
.failed { background: #fbe2e0; color: #a3140a; }
p.failed { font-size: .95rem; font-weight: normal; padding: .3rem .5rem; }
.step { margin: 1rem 0 1.5rem; } .meta, .full { color: #555; font-size: .9rem; }
.toc li { margin: .1rem 0; }
</style>
</head>
<body>
<h1>glassbox: the tour</h1>
<p>Every lesson of the course, run by <code>glassbox tour</code> on the data this machine has. Each section shows
the lesson's figures, its numbers beside glassbox's full run and the course's, the command that ran and the
command of the full version. The quick settings (<code>glassbox tour</code>) train for a fraction of the
time, so their numbers sit below the full runs'; <code>glassbox tour --full</code> runs the full ones.</p>
"#;

pub const PAGE_END: &str =
    "<footer><p class=\"meta\">Made by <code>glassbox report</code> from the lessons' \
figures and metrics.json.</p></footer>\n</body>\n</html>\n";

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
