// The console works without this script; it only shows times in the viewer's zone and keeps
// the template preview live while typing.
"use strict";

function localTimes() {
  for (const el of document.querySelectorAll("time[datetime]")) {
    const at = new Date(el.dateTime);
    if (!isNaN(at)) {
      el.title = el.textContent;
      el.textContent = at.toLocaleString();
    }
  }
}

function livePreview() {
  const form = document.getElementById("template-form");
  if (!form) return;
  const set = (id, text) => { const el = document.getElementById(id); if (el) el.textContent = text; };
  const showError = (id, text) => {
    const el = document.getElementById(id);
    if (!el) return;
    el.textContent = text || "";
    el.hidden = !text;
  };
  let timer = null;
  let sent = 0;
  const update = async () => {
    const mine = ++sent;
    const body = new URLSearchParams(new FormData(form));
    const response = await fetch(form.action.replace(/template$/, "template/preview"), {
      method: "POST",
      headers: { "Accept": "application/json" },
      body,
      credentials: "same-origin",
    });
    if (!response.ok || mine !== sent) return;
    const preview = await response.json();
    const email = preview.email || {};
    set("preview-subject", email.subject || "");
    set("preview-text", email.text || "");
    document.getElementById("preview-html").srcdoc = email.html || "";
    showError("email-error", preview.email_error);
    const sms = preview.sms;
    set("preview-sms", sms ? sms.text : "");
    set("sms-length", sms ? `${sms.characters} characters, ${sms.encoding}: ${sms.segments} SMS` : "");
    showError("sms-error", preview.sms_error);
  };
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => update().catch(() => {}), 250);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes();
  livePreview();
});
