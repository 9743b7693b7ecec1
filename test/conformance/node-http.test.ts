import { ingressConformance } from './ingress.case.js';
ingressConformance('node');
