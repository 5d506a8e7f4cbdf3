// Paige Secrets dashboard: small conveniences on top of pages that work
// without JavaScript. Loaded from /static (the CSP allows no inline code).
'use strict';

(function () {
  document.documentElement.classList.add('js');

  // The project switcher opens the chosen project at once.
  document.querySelectorAll('select[data-autosubmit]').forEach(function (select) {
    select.addEventListener('change', function () { if (select.value) select.form.submit(); });
  });

  // A form that starts a run shows it running and cannot be sent twice
  // (the server also runs a form's key once: see sent.rs). Coming back to
  // the page from history gives the button back.
  document.querySelectorAll('form[data-runs]').forEach(function (form) {
    var button = form.querySelector('button[data-running]');
    if (!button) return;
    var label = button.textContent;
    form.addEventListener('submit', function (event) {
      if (button.disabled) { event.preventDefault(); return; }
      // After this event, so the submission itself goes ahead.
      setTimeout(function () {
        button.disabled = true;
        button.setAttribute('aria-busy', 'true');
        button.textContent = button.getAttribute('data-running');
      }, 0);
    });
    window.addEventListener('pageshow', function () {
      button.disabled = false;
      button.removeAttribute('aria-busy');
      button.textContent = label;
    });
  });

  // Under the sign-in rate limit: count the wait down and hold the button
  // until it is over (without JavaScript the text says how long to wait).
  var wait = document.getElementById('login-wait');
  var signIn = document.getElementById('sign-in');
  if (wait && signIn) {
    var left = parseInt(wait.getAttribute('data-wait'), 10) || 0;
    var secs = document.getElementById('wait-secs');
    signIn.disabled = left > 0;
    var tick = setInterval(function () {
      left -= 1;
      if (left > 0) { secs.textContent = String(left); return; }
      clearInterval(tick);
      document.getElementById('wait-text').textContent = 'You can sign in again now.';
      signIn.disabled = false;
    }, 1000);
  }

  // Filter the keys as you type (the server filters with ?q= without JS):
  // the count says how many are shown, and "No key matches" when none.
  var filter = document.getElementById('filter');
  var table = document.getElementById('secrets');
  var count = document.getElementById('key-count');
  var noMatch = document.getElementById('no-match');
  if (filter && table) {
    filter.addEventListener('input', function () {
      var needle = filter.value.trim().toUpperCase();
      var rows = table.querySelectorAll('tbody tr');
      var shown = 0;
      rows.forEach(function (row) {
        var key = row.querySelector('code').textContent;
        row.hidden = needle !== '' && key.indexOf(needle) === -1;
        if (!row.hidden) shown += 1;
      });
      var total = filter.getAttribute('data-total');
      if (count) count.textContent = String(shown) === total ? total : shown + ' of ' + total;
      if (noMatch) noMatch.hidden = shown > 0;
      table.hidden = shown === 0;
    });
  }

  // Copy a key name or its process.env snippet with one click. The
  // buttons are made here, so a page without JavaScript has none (and a
  // list of 1,000 keys does not carry 2,000 buttons over the wire).
  var copied = document.getElementById('copied');
  function copyButton(text, label, name) {
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'copy';
    button.textContent = label;
    button.setAttribute('data-copy', text);
    button.setAttribute('aria-label', name);
    return button;
  }
  if (table) {
    table.querySelectorAll('tbody tr').forEach(function (row) {
      var code = row.querySelector('code');
      var key = code.textContent;
      var buttons = document.createElement('span');
      buttons.className = 'copies';
      buttons.appendChild(copyButton(key, 'Copy', 'Copy the name ' + key));
      buttons.appendChild(copyButton('process.env.' + key, 'process.env', 'Copy process.env.' + key));
      code.parentNode.insertBefore(buttons, code.nextSibling);
    });
  }
  function copyText(text) {
    var fallback = function () {
      var area = document.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.className = 'offscreen';
      document.body.appendChild(area);
      area.select();
      var done = document.execCommand('copy');
      document.body.removeChild(area);
      return done ? Promise.resolve() : Promise.reject(new Error('copy refused'));
    };
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(fallback);
    }
    return fallback();
  }
  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    var label = button.textContent;
    button.addEventListener('click', function () {
      var text = button.getAttribute('data-copy');
      copyText(text).then(function () {
        button.textContent = 'Copied';
        if (copied) copied.textContent = 'Copied ' + text + ' to the clipboard.';
      }, function () {
        if (copied) copied.textContent = 'Could not copy; select the name and copy it by hand.';
      }).then(function () {
        setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
  });

  // Check the key's rules as it is typed; ask to confirm an overwrite.
  var key = document.getElementById('key');
  if (!key) return;
  var error = document.getElementById('key-error');
  var replaceBox = document.getElementById('replace-box');
  var replace = document.getElementById('replace');
  var existing = {};
  if (table) {
    table.querySelectorAll('tbody code').forEach(function (c) { existing[c.textContent] = true; });
  }
  var reserved = ['PATH', 'HOME', 'PORT', 'TZ', 'SHELL', 'USER', 'LOGNAME', 'TMPDIR', 'PWD', 'OLDPWD', 'SHLVL', '_', 'IFS', 'ENV', 'BASH_ENV',
    'NODE_ENV', 'NODE_OPTIONS', 'NODE_PATH', 'NODE_EXTRA_CA_CERTS', 'NODE_TLS_REJECT_UNAUTHORIZED',
    'NODE_REDIRECT_WARNINGS', 'NODE_V8_COVERAGE', 'NODE_DEBUG', 'NODE_ICU_DATA', 'NODE_PRESERVE_SYMLINKS',
    'NODE_COMPILE_CACHE', 'UV_THREADPOOL_SIZE', 'OPENSSL_CONF', 'SSL_CERT_FILE', 'SSL_CERT_DIR',
    'PYTHONSTARTUP', 'PYTHONPATH', 'PYTHONHOME', 'PYTHONINSPECT', 'PERL5OPT', 'PERL5LIB', 'RUBYOPT', 'RUBYLIB',
    'JAVA_TOOL_OPTIONS', '_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS', 'GCONV_PATH', 'MALLOC_CHECK_'];

  // The rule a key breaks: { text, suggest } (suggest: a key it may
  // mean, never a reserved one), or null.
  function problem(k) {
    if (k === '') return null;
    if (k.length > 128) return { text: 'A key is at most 128 characters; this one has ' + k.length + '.' };
    var upper = k.toUpperCase();
    if (/[a-z]/.test(k) && /^[A-Z0-9_]+$/.test(upper) && !/^[0-9]/.test(k)) {
      var reservedUpper = problem(upper);
      if (reservedUpper) return reservedUpper;
      return { text: 'Keys use only A-Z, 0-9 and _ and are never re-cased; ', suggest: upper };
    }
    var bad = k.match(/[^A-Z0-9_]/);
    if (bad) return { text: 'Keys use only A-Z, 0-9 and _; found "' + bad[0] + '" at position ' + bad.index + '.' };
    if (/^[0-9]/.test(k)) return { text: 'A key must not start with a digit.' };
    if (/^PAIGE_/.test(k)) return { text: 'Reserved: the prefix PAIGE_ belongs to the platform\u2019s own variables.' };
    if (/^(LD_|DYLD_)/.test(k)) return { text: 'Reserved: LD_* and DYLD_* variables make the dynamic loader run other code.' };
    if (reserved.indexOf(k) !== -1) return { text: 'Reserved: ' + k + ' is set by the runtime or changes how a process starts.' };
    return null;
  }

  // The error line: its text, and a "did you mean …?" link that fills the key in.
  var errorText = document.getElementById('key-error-text');
  var suggest = document.getElementById('key-suggest');
  if (!suggest) {
    suggest = document.createElement('a');
    suggest.id = 'key-suggest';
    suggest.hidden = true;
    error.appendChild(suggest);
  }
  function show(found) {
    errorText.textContent = found.text;
    suggest.hidden = !found.suggest;
    if (found.suggest) {
      suggest.textContent = 'did you mean ' + found.suggest + '?';
      suggest.setAttribute('data-suggest', found.suggest);
      suggest.href = '?key=' + found.suggest + '#add';
    }
    error.hidden = false;
  }
  suggest.addEventListener('click', function (event) {
    event.preventDefault();
    key.value = suggest.getAttribute('data-suggest');
    check();
    document.getElementById('value').focus();
  });

  var serverError = error.hidden ? null : { text: errorText.textContent, suggest: suggest.getAttribute('data-suggest') };
  function check() {
    var k = key.value;
    var found = problem(k);
    if (found) {
      show(found);
      key.setAttribute('aria-invalid', 'true');
    } else if (serverError && k === key.defaultValue) {
      show(serverError);
    } else {
      error.hidden = true;
      key.removeAttribute('aria-invalid');
    }
    var exists = existing[k] === true;
    if (replaceBox) {
      replaceBox.hidden = !exists;
      replace.required = exists;
    }
  }
  key.addEventListener('input', check);
  check();
})();
