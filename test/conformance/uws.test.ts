import { ingressConformance } from './ingress.case.js';
ingressConformance('uws');
