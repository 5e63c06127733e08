// Passkeys on the hosted pages: "Sign in with a passkey" on the sign-in page and "Add a passkey" on the
// passkeys page. The server's options are WebAuthn JSON (binary members base64url); the browser's answer
// goes back as PublicKeyCredential.toJSON(). Every request carries the page's CSRF token.
'use strict';

(function () {
  function fromBase64url(text) {
    const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    const binary = atob(padded);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = '';
    for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function decodeCredentialList(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: fromBase64url(c.id) }); });
  }

  function creationOptions(publicKey) {
    return Object.assign({}, publicKey, {
      challenge: fromBase64url(publicKey.challenge),
      user: Object.assign({}, publicKey.user, { id: fromBase64url(publicKey.user.id) }),
      excludeCredentials: decodeCredentialList(publicKey.excludeCredentials),
    });
  }

  function requestOptions(publicKey) {
    return Object.assign({}, publicKey, {
      challenge: fromBase64url(publicKey.challenge),
      allowCredentials: decodeCredentialList(publicKey.allowCredentials),
    });
  }

  // PublicKeyCredential.toJSON() where the browser has it; the same shape by hand where it does not.
  function credentialJSON(credential) {
    if (typeof credential.toJSON === 'function') return credential.toJSON();
    const r = credential.response;
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject);
      if (typeof r.getTransports === 'function') response.transports = r.getTransports();
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData);
      response.signature = toBase64url(r.signature);
      response.userHandle = r.userHandle ? toBase64url(r.userHandle) : null;
    }
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: response,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || null,
    };
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : '';
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrfToken() },
      body: JSON.stringify(body),
    });
    const data = await response.json().catch(function () { return {}; });
    if (!response.ok) {
      const error = new Error(data.detail || ('The server answered ' + response.status));
      error.code = data.error;
      throw error;
    }
    return data;
  }

  function showError(message) {
    const element = document.getElementById('error');
    if (!element) return;
    element.textContent = message;
    element.hidden = false;
  }

  function clearError() {
    const element = document.getElementById('error');
    if (element) { element.textContent = ''; element.hidden = true; }
  }

  function describe(error) {
    if (error && error.name === 'NotAllowedError') return 'The passkey request was cancelled or timed out.';
    if (error && error.name === 'InvalidStateError') return 'This device already has a passkey for your account.';
    return (error && error.message) || 'Something went wrong.';
  }

  async function signIn(box, button) {
    clearError();
    button.disabled = true;
    try {
      const emailInput = document.getElementById('email');
      const email = emailInput && emailInput.value.trim();
      const start = await post(box.dataset.start, email ? { email: email } : {});
      const credential = await navigator.credentials.get({ publicKey: requestOptions(start.publicKey) });
      const done = await post(box.dataset.finish, {
        ceremony_id: start.ceremony_id,
        credential: credentialJSON(credential),
        return_to: box.dataset.returnTo,
      });
      window.location.assign(done.location);
    } catch (error) {
      showError(describe(error));
      button.disabled = false;
    }
  }

  async function register(box, button) {
    clearError();
    button.disabled = true;
    try {
      const start = await post(box.dataset.start, {});
      const credential = await navigator.credentials.create({ publicKey: creationOptions(start.publicKey) });
      const nameInput = document.getElementById('passkey-name');
      const name = nameInput && nameInput.value.trim();
      const body = { ceremony_id: start.ceremony_id, credential: credentialJSON(credential) };
      if (name) body.name = name;
      await post(box.dataset.finish, body);
      window.location.reload();
    } catch (error) {
      showError(describe(error));
      button.disabled = false;
    }
  }

  document.addEventListener('DOMContentLoaded', function () {
    const supported = typeof window.PublicKeyCredential === 'function';
    const loginBox = document.getElementById('passkey-login');
    const signInButton = document.getElementById('passkey-sign-in');
    if (loginBox && signInButton) {
      if (!supported) signInButton.disabled = true;
      signInButton.addEventListener('click', function () { signIn(loginBox, signInButton); });
    }
    const registerBox = document.getElementById('passkey-register');
    const addButton = document.getElementById('add-passkey');
    if (registerBox && addButton) {
      if (!supported) { addButton.disabled = true; showError('This browser does not support passkeys.'); }
      addButton.addEventListener('click', function () { register(registerBox, addButton); });
    }
  });
})();
