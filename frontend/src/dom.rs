//! Small browser helpers: the URL (fragment link, embed flag), the clipboard, local storage,
//! the theme attribute and focus.

use wasm_bindgen::{JsCast, JsValue};

pub fn window() -> web_sys::Window {
    web_sys::window().expect("a browser window")
}

pub fn document() -> web_sys::Document {
    window().document().expect("a document")
}

/// The fragment without `#` (empty if none).
pub fn hash() -> String {
    let h = window().location().hash().unwrap_or_default();
    h.strip_prefix('#').unwrap_or(&h).to_string()
}

/// The content of `<meta name="...">`, which the server injects into the page of a short
/// link (`/s/<id>`, `/embed/<id>`): `mmrace-scenario`, `mmrace-step`, `mmrace-schedule`,
/// `mmrace-embed`, `mmrace-error`.
pub fn meta(name: &str) -> Option<String> {
    document()
        .query_selector(&format!("meta[name=\"{name}\"]"))
        .ok()
        .flatten()
        .and_then(|e| e.get_attribute("content"))
}

/// Fetch `url` (relative to the page's base) as text: `Ok((status, body))`.
pub async fn fetch_text(url: &str) -> Result<(u16, String), String> {
    let req = web_sys::Request::new_with_str(url).map_err(js_err)?;
    send(&req).await
}

/// POST `body` as JSON to `url` (relative to the page's base): `Ok((status, body))`.
pub async fn post_json(url: &str, body: &str) -> Result<(u16, String), String> {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(body));
    let headers = web_sys::Headers::new().map_err(js_err)?;
    headers
        .set("Content-Type", "application/json")
        .map_err(js_err)?;
    init.set_headers(&headers);
    let req = web_sys::Request::new_with_str_and_init(url, &init).map_err(js_err)?;
    send(&req).await
}

/// Send a request and read the whole answer as text.
async fn send(req: &web_sys::Request) -> Result<(u16, String), String> {
    use wasm_bindgen_futures::JsFuture;
    let resp = JsFuture::from(window().fetch_with_request(req))
        .await
        .map_err(js_err)?;
    let resp: web_sys::Response = resp.dyn_into().map_err(js_err)?;
    let status = resp.status();
    let text = JsFuture::from(resp.text().map_err(js_err)?)
        .await
        .map_err(js_err)?;
    Ok((status, text.as_string().unwrap_or_default()))
}

fn js_err(e: JsValue) -> String {
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

/// The page's origin (`http://host:port`).
pub fn origin() -> String {
    window().location().origin().unwrap_or_default()
}

/// Whether the page is the embed view: `?embed=1`, a path `/embed/<id>`, or the server's
/// `<meta name="mmrace-embed" content="1">`.
pub fn is_embed() -> bool {
    if meta("mmrace-embed").as_deref() == Some("1") {
        return true;
    }
    let loc = window().location();
    let search = loc.search().unwrap_or_default();
    let path = loc.pathname().unwrap_or_default();
    let param = web_sys::UrlSearchParams::new_with_str(&search)
        .ok()
        .and_then(|p| p.get("embed"))
        .is_some_and(|v| v != "0" && v != "false");
    param || path.contains("/embed/")
}

thread_local! {
    /// The link of what is on screen (the address bar catches up with it).
    static CURRENT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    /// A pending `replaceState`, and whether its timer runs.
    static PENDING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// How long the address bar may lag behind the screen. `history.replaceState` with a long URL
/// costs Chrome tens of milliseconds (and Chrome throttles frequent calls), so holding → to
/// step must not call it for every step: the last link wins after a pause this long.
const HASH_DELAY_MS: i32 = 200;

/// The link of what is on screen (not the possibly lagging address bar).
pub fn current_link() -> String {
    CURRENT.with(|c| c.borrow().clone())
}

/// Record the link of what is on screen and put it in the address bar soon.
pub fn set_link(link: &str) {
    CURRENT.with(|c| *c.borrow_mut() = link.to_string());
    if PENDING.with(|p| p.replace(true)) {
        return;
    }
    let cb = wasm_bindgen::closure::Closure::once_into_js(flush_link);
    if window()
        .set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), HASH_DELAY_MS)
        .is_err()
    {
        flush_link();
    }
}

/// Put the current link in the address bar now (before copying it, before leaving the page).
pub fn flush_link() {
    PENDING.with(|p| p.set(false));
    let link = current_link();
    if !link.is_empty() {
        replace_hash(&link);
    }
}

/// Put `#<link>` in the address bar without adding a history entry. The URL is built from
/// the page's own path (a short-link page has `<base href="/">`, against which a bare
/// `#...` would resolve to `/`).
pub fn replace_hash(link: &str) {
    if hash() == link {
        return;
    }
    let loc = window().location();
    let url = format!(
        "{}{}#{link}",
        loc.pathname().unwrap_or_default(),
        loc.search().unwrap_or_default()
    );
    let _ = window()
        .history()
        .and_then(|h| h.replace_state_with_url(&JsValue::NULL, "", Some(&url)));
}

/// The URL fragment of the library page (works from the static `dist/` folder too).
pub const LIBRARY_HASH: &str = "library";

/// The query parameter that asks `boot.js` for the full bundle (`mmrace_full.js`) with the
/// author panel open. A query parameter rather than storage: it works wherever the page is
/// served from, and it is a new URL, so the browser really loads the page again.
const AUTHOR_PARAM: &str = "author";

/// The first-load bundle has no editor and no library page: reload the page into the full
/// bundle. Nothing is lost: the fragment holds the link of what is on screen (flushed here
/// first). `library`: open the library page (`#library`, a history entry so that Back returns
/// to the stepper), else the author panel (`?author`, no history entry).
pub fn load_full_bundle(library: bool) {
    let loc = window().location();
    if library {
        // A pending address-bar update must not overwrite `#library` before the reload.
        CURRENT.with(|c| c.borrow_mut().clear());
        if hash() != LIBRARY_HASH {
            let _ = loc.set_hash(LIBRARY_HASH);
        }
        let _ = loc.reload();
        return;
    }
    flush_link();
    let search = loc.search().unwrap_or_default();
    let url = format!(
        "{}{search}{}{AUTHOR_PARAM}{}",
        loc.pathname().unwrap_or_default(),
        if search.is_empty() { "?" } else { "&" },
        loc.hash().unwrap_or_default()
    );
    let _ = loc.replace(&url);
}

/// Full bundle: was the page loaded to author (`?author`)? The parameter is removed from the
/// address bar (kept links and reloads open the stepper, as before).
#[cfg(feature = "authoring")]
pub fn take_author_request() -> bool {
    let loc = window().location();
    let search = loc.search().unwrap_or_default();
    let Ok(params) = web_sys::UrlSearchParams::new_with_str(&search) else {
        return false;
    };
    if !params.has(AUTHOR_PARAM) {
        return false;
    }
    params.delete(AUTHOR_PARAM);
    let rest = String::from(params.to_string());
    let url = format!(
        "{}{}{rest}{}",
        loc.pathname().unwrap_or_default(),
        if rest.is_empty() { "" } else { "?" },
        loc.hash().unwrap_or_default()
    );
    let _ = window()
        .history()
        .and_then(|h| h.replace_state_with_url(&JsValue::NULL, "", Some(&url)));
    true
}

/// The full URL of the page with `#<link>` (what "Copy link" copies).
pub fn url_with_hash(link: &str) -> String {
    let href = window().location().href().unwrap_or_default();
    let base = href.split('#').next().unwrap_or_default();
    format!("{base}#{link}")
}

/// The URL of the full app for the embed view's "open in mmrace" link: the same page without
/// `embed` (and `/embed/<id>` → `/s/<id>`), with the current link.
pub fn full_app_url(link: &str) -> String {
    let loc = window().location();
    let path = loc.pathname().unwrap_or_default();
    let path = match path.find("/embed/") {
        Some(i) => format!("{}/s/{}", &path[..i], &path[i + "/embed/".len()..]),
        None => path,
    };
    let search = loc.search().unwrap_or_default();
    let rest = web_sys::UrlSearchParams::new_with_str(&search)
        .map(|p| {
            p.delete("embed");
            String::from(p.to_string())
        })
        .unwrap_or_default();
    let origin = loc.origin().unwrap_or_default();
    let origin = if origin == "null" {
        // file:// pages: keep the protocol and path only.
        String::from("file://")
    } else {
        origin
    };
    let q = if rest.is_empty() {
        String::new()
    } else {
        format!("?{rest}")
    };
    format!("{origin}{path}{q}#{link}")
}

/// Copy `text`: `navigator.clipboard.writeText`, falling back to a selected textarea and
/// `document.execCommand("copy")`. Calls `done(ok)` when known.
pub fn copy_text(text: &str, done: impl FnOnce(bool) + 'static) {
    let nav = window().navigator();
    let clip = js_sys::Reflect::get(&nav, &JsValue::from_str("clipboard")).ok();
    let write = clip.as_ref().filter(|c| !c.is_undefined()).and_then(|c| {
        js_sys::Reflect::get(c, &JsValue::from_str("writeText"))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            .map(|f| (c.clone(), f))
    });
    if let Some((clip, f)) = write {
        if let Ok(p) = f.call1(&clip, &JsValue::from_str(text)) {
            if let Ok(p) = p.dyn_into::<js_sys::Promise>() {
                let text = text.to_string();
                let done = std::rc::Rc::new(std::cell::RefCell::new(Some(done)));
                let d1 = done.clone();
                let ok = wasm_bindgen::closure::Closure::once(move |_v: JsValue| {
                    if let Some(d) = d1.borrow_mut().take() {
                        d(true);
                    }
                });
                let err = wasm_bindgen::closure::Closure::once(move |_v: JsValue| {
                    let r = copy_fallback(&text);
                    if let Some(d) = done.borrow_mut().take() {
                        d(r);
                    }
                });
                let _ = p.then2(&ok, &err);
                ok.forget();
                err.forget();
                return;
            }
        }
    }
    done(copy_fallback(text));
}

fn copy_fallback(text: &str) -> bool {
    let doc = document();
    let Ok(ta) = doc.create_element("textarea") else {
        return false;
    };
    let Ok(ta) = ta.dyn_into::<web_sys::HtmlTextAreaElement>() else {
        return false;
    };
    ta.set_value(text);
    let _ = ta.set_attribute("readonly", "");
    let _ = ta.set_attribute("class", "offscreen");
    let Some(body) = doc.body() else { return false };
    let _ = body.append_child(&ta);
    ta.select();
    let ok = doc
        .dyn_ref::<web_sys::HtmlDocument>()
        .and_then(|d| d.exec_command("copy").ok())
        .unwrap_or(false);
    let _ = body.remove_child(&ta);
    ok
}

pub fn storage_get(key: &str) -> Option<String> {
    window()
        .local_storage()
        .ok()
        .flatten()
        .and_then(|s| s.get_item(key).ok().flatten())
}

pub fn storage_set(key: &str, value: &str) {
    if let Some(s) = window().local_storage().ok().flatten() {
        let _ = s.set_item(key, value);
    }
}

/// Set (or with `None` remove) an attribute of `<html>`.
pub fn set_root_attr(name: &str, value: Option<&str>) {
    if let Some(root) = document().document_element() {
        if root.get_attribute(name).as_deref() == value {
            return;
        }
        let _ = match value {
            Some(v) => root.set_attribute(name, v),
            None => root.remove_attribute(name),
        };
    }
}

pub fn focus(id: &str) {
    if let Some(el) = document()
        .get_element_by_id(id)
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = el.focus();
    }
}

/// Keep the current line of each thread's listing in view (scrolling the listing only, never
/// the page).
pub fn scroll_current_lines() {
    let Ok(list) = document().query_selector_all(".thread .code") else {
        return;
    };
    for i in 0..list.length() {
        let Some(code) = list
            .item(i)
            .and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
        else {
            continue;
        };
        let Ok(cur) = code.query_selector_all(".line.current") else {
            continue;
        };
        let Some(line) = (cur.length() > 0)
            .then(|| cur.item(cur.length() - 1))
            .flatten()
            .and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
        else {
            continue;
        };
        let top = rel_top(&line, &code);
        let h = code.client_height();
        let st = code.scroll_top();
        if top < st || top + line.offset_height() > st + h {
            code.set_scroll_top((top - h / 3).max(0));
        }
    }
}

/// `el`'s top relative to the top of the scrolled content of `container`.
fn rel_top(el: &web_sys::HtmlElement, container: &web_sys::HtmlElement) -> i32 {
    (el.get_bounding_client_rect().top() - container.get_bounding_client_rect().top()) as i32
        + container.scroll_top()
}
