// The shell's loader: loads each service's components, and shows a placeholder for the
// elements of a service whose components do not load, leaving the others be.
//
// The shell page lists the fragments in <script type="application/json" id="atoll-fragments">
// ({service: {module}}), maps each service's build in its import map ("@runs/"), and marks
// each element with the service it comes from (data-atoll-service). A service found down
// when the page was made has placeholders already.

const PLACEHOLDER_CLASS = 'atoll-placeholder';

export function placeholder(service) {
  const shown = document.createElement('div');
  shown.className = PLACEHOLDER_CLASS;
  shown.setAttribute('role', 'status');
  shown.dataset.atollService = service;
  shown.textContent = `${service} is unavailable right now`;
  return shown;
}

function unavailable(service, error) {
  console.error(`the components of ${service} did not load:`, error);
  for (const element of document.querySelectorAll(`[data-atoll-service="${service}"]`)) {
    if (!element.classList.contains(PLACEHOLDER_CLASS)) {
      element.replaceWith(placeholder(service));
    }
  }
}

const listed = document.getElementById('atoll-fragments');
const fragments = listed ? JSON.parse(listed.textContent) : {};
// Each service apart: one that fails to load takes no other with it.
await Promise.all(
  Object.entries(fragments).map(([service, fragment]) =>
    import(fragment.module).catch((error) => unavailable(service, error)),
  ),
);
document.documentElement.dataset.atollLoaded = 'true';
