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

  // Filter the keys as you type (the server filters with ?q= without JS).
  var filter = document.getElementById('filter');
  var table = document.getElementById('secrets');
  if (filter && table) {
    filter.addEventListener('input', function () {
      var needle = filter.value.trim().toUpperCase();
      table.querySelectorAll('tbody tr').forEach(function (row) {
        var key = row.querySelector('code').textContent;
        row.hidden = needle !== '' && key.indexOf(needle) === -1;
      });
    });
  }

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
  var reserved = ['PATH', 'HOME', 'PORT', 'TZ', 'SHELL', 'USER', 'LOGNAME', 'TMPDIR', 'IFS', 'ENV', 'BASH_ENV',
    'NODE_ENV', 'NODE_OPTIONS', 'NODE_PATH', 'NODE_EXTRA_CA_CERTS', 'NODE_TLS_REJECT_UNAUTHORIZED',
    'NODE_REDIRECT_WARNINGS', 'NODE_V8_COVERAGE', 'NODE_DEBUG', 'NODE_ICU_DATA', 'NODE_PRESERVE_SYMLINKS',
    'NODE_COMPILE_CACHE', 'UV_THREADPOOL_SIZE', 'OPENSSL_CONF', 'SSL_CERT_FILE', 'SSL_CERT_DIR',
    'PYTHONSTARTUP', 'PYTHONPATH', 'PYTHONHOME', 'PYTHONINSPECT', 'PERL5OPT', 'PERL5LIB', 'RUBYOPT', 'RUBYLIB',
    'JAVA_TOOL_OPTIONS', '_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS', 'GCONV_PATH', 'MALLOC_CHECK_'];

  function problem(k) {
    if (k === '') return '';
    if (k.length > 128) return 'A key is at most 128 characters; this one has ' + k.length + '.';
    if (/[a-z]/.test(k) && /^[A-Z0-9_]+$/.test(k.toUpperCase()) && !/^[0-9]/.test(k)) {
      return 'Keys use only A-Z, 0-9 and _ and are never re-cased; did you mean ' + k.toUpperCase() + '?';
    }
    var bad = k.match(/[^A-Z0-9_]/);
    if (bad) return 'Keys use only A-Z, 0-9 and _; found "' + bad[0] + '" at position ' + bad.index + '.';
    if (/^[0-9]/.test(k)) return 'A key must not start with a digit.';
    if (/^PAIGE_/.test(k)) return 'Reserved: the prefix PAIGE_ belongs to the platform\u2019s own variables.';
    if (/^(LD_|DYLD_)/.test(k)) return 'Reserved: LD_* and DYLD_* variables make the dynamic loader run other code.';
    if (reserved.indexOf(k) !== -1) return 'Reserved: ' + k + ' is set by the runtime or changes how a process starts.';
    return '';
  }

  var serverError = error.hidden ? '' : error.textContent;
  function check() {
    var k = key.value;
    var message = problem(k);
    if (message) {
      error.textContent = message;
      error.hidden = false;
      key.setAttribute('aria-invalid', 'true');
    } else if (serverError && k === key.defaultValue) {
      error.textContent = serverError;
      error.hidden = false;
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
